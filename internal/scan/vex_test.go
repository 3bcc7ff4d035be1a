package scan

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func vexFinding(id, purl string) model.Finding {
	return model.Finding{RuleID: id, Severity: model.SeverityHigh, Extra: map[string]string{"purl": purl}}
}

func mustVEX(t *testing.T, doc string) *VEXDoc {
	t.Helper()
	d, err := ParseVEX("test.openvex.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFixtureVEX(t *testing.T) {
	b, err := os.ReadFile("../../fixtures/vex/websocket.openvex.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseVEX("fixtures/vex/websocket.openvex.json", b)
	if err != nil {
		t.Fatal(err)
	}
	fs := []model.Finding{
		vexFinding("CVE-2020-27813", "pkg:golang/github.com/gorilla/websocket@v1.4.0"),
		vexFinding("CVE-2020-27813", "pkg:golang/github.com/gorilla/websocket@v1.4.2"), // other version: statement does not apply
		vexFinding("CVE-2021-23337", "pkg:npm/lodash@4.17.15"),                         // under_investigation: still counts
	}
	ApplyVEX(fs, []*VEXDoc{d}, Subject{})
	s := fs[0].Suppression
	if s == nil || s.Kind != "vex" || !strings.Contains(s.Reason, "vulnerable_code_not_in_execute_path") || !strings.Contains(s.Reason, "never accepts websocket") {
		t.Fatalf("websocket suppression = %+v", s)
	}
	if fs[1].Suppression != nil || fs[2].Suppression != nil {
		t.Fatalf("unexpected suppression: %+v / %+v", fs[1].Suppression, fs[2].Suppression)
	}
	if fs[2].Extra["vex_status"] != "under_investigation" {
		t.Errorf("vex_status = %q", fs[2].Extra["vex_status"])
	}
}

func TestVEXMatching(t *testing.T) {
	const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	subj := Subject{Names: []string{"registry.example/app:1"}, Digest: digest}
	const pkg = "pkg:apk/alpine/libssl3@3.1.4-r0?arch=x86_64&distro=3.19.1"
	tests := []struct {
		name     string
		doc      string
		suppress bool
	}{
		{"no products applies to all", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
			"statements":[{"vulnerability":{"name":"CVE-1"},"status":"fixed"}]}`, true},
		{"image product by purl digest with package subcomponent", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
			"statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:oci/app@sha256%3A1111111111111111111111111111111111111111111111111111111111111111","subcomponents":[{"@id":"pkg:apk/alpine/libssl3"}]}],
			"status":"not_affected","justification":"inline_mitigations_already_exist"}]}`, true},
		{"image product, other subcomponent", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
			"statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"registry.example/app:1","subcomponents":[{"@id":"pkg:apk/alpine/busybox"}]}],
			"status":"not_affected","justification":"component_not_present"}]}`, false},
		{"other image", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
			"statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"registry.example/other:1"}],"status":"not_affected","justification":"component_not_present"}]}`, false},
		{"other vulnerability", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
			"statements":[{"vulnerability":{"name":"CVE-2"},"status":"not_affected","justification":"component_not_present"}]}`, false},
		{"alias matches", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
			"statements":[{"vulnerability":{"name":"GHSA-xxxx","aliases":["CVE-1"]},"status":"not_affected","justification":"component_not_present"}]}`, true},
		{"later affected wins", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
			"statements":[{"vulnerability":{"name":"CVE-1"},"status":"not_affected","justification":"component_not_present","timestamp":"2024-01-01T00:00:00Z"},
			{"vulnerability":{"name":"CVE-1"},"status":"affected","action_statement":"upgrade","timestamp":"2024-03-01T00:00:00Z"}]}`, false},
		{"later not_affected wins", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
			"statements":[{"vulnerability":{"name":"CVE-1"},"status":"affected","action_statement":"upgrade","timestamp":"2024-01-01T00:00:00Z"},
			{"vulnerability":{"name":"CVE-1"},"status":"not_affected","justification":"component_not_present","timestamp":"2024-03-01T00:00:00Z"}]}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := []model.Finding{vexFinding("CVE-1", pkg)}
			ApplyVEX(fs, []*VEXDoc{mustVEX(t, tc.doc)}, subj)
			if got := fs[0].Suppression != nil; got != tc.suppress {
				t.Fatalf("suppressed = %v, want %v (%+v)", got, tc.suppress, fs[0].Suppression)
			}
		})
	}
}

func TestParseVEXRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"garbage":             "not json",
		"cyclonedx":           `{"bomFormat":"CycloneDX","specVersion":"1.5","vulnerabilities":[]}`,
		"not_affected no why": `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,"statements":[{"vulnerability":{"name":"CVE-1"},"status":"not_affected"}]}`,
		"bad status":          `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,"statements":[{"vulnerability":{"name":"CVE-1"},"status":"maybe"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseVEX("bad.json", []byte(doc))
			var ie *model.InputError
			if !errors.As(err, &ie) || ie.File != "bad.json" {
				t.Fatalf("err = %v, want InputError for bad.json", err)
			}
		})
	}
}
