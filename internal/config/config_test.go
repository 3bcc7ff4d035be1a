package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantLine int
		wantMsg  string
	}{
		{"unknown top-level key", "version: 1\nstagez: [lint]\n", 2, `unknown key "stagez" (in top level)`},
		{"unknown nested key", "lint:\n  dockerfiles: [Dockerfile]\n  allowed-registry: [x]\n", 3, `unknown key "allowed-registry" (in lint section)`},
		{"wrong type", "version: 1\ngate:\n  fail-on: [HIGH]\n", 3, "got a list"},
		{"wrong scalar type", "version: one\n", 1, "cannot unmarshal"},
		{"bad severity", "gate:\n  fail-on: SEVERE\n", 2, `unknown severity "SEVERE"`},
		{"bad date", "ignore:\n  - id: X\n    reason: r\n    expires: next year\n", 4, "want a date YYYY-MM-DD"},
		{"ignore without reason", "ignore:\n  - id: TG-DF-001\n", 2, "needs a reason"},
		{"ignore without id", "version: 1\nignore:\n  - reason: because\n", 3, "needs an id"},
		{"ignore unknown stage", "ignore:\n  - id: X\n    stage: deploi\n    reason: r\n", 2, `unknown stage "deploi"`},
		{"unknown stage", "stages: [lint, fuzz]\n", 0, `unknown stage "fuzz"`},
		{"version 2", "version: 2\n", 0, "version 2 is not supported"},
		{"not yaml", "version: 1\n  - : :\n\t\n", 2, ""},
		{"strict bool", "validate:\n  strict: maybe\n", 2, "cannot unmarshal"},
		{"ignore path not a glob", "version: 1\nignore:\n  - id: X\n    path: \"[abc\"\n    reason: r\n", 3, `path "[abc" is not a valid glob`},
		{"second document", "version: 1\n---\nversion: 1\nstages: [lint]\n", 3, "second YAML document"},
		{"second document after comment", "version: 1\n# split\n---\ngate:\n  fail-on: LOW\n", 4, "second YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("tollgate.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("want an error")
			}
			var ie *model.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("want *model.InputError, got %T: %v", err, err)
			}
			if ie.File != "tollgate.yaml" {
				t.Errorf("file = %q", ie.File)
			}
			if tt.wantLine != 0 && ie.Line != tt.wantLine {
				t.Errorf("line = %d, want %d (%v)", ie.Line, tt.wantLine, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "version: 1\n"} {
		c, err := Parse("tollgate.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if c.Gate.FailOn != model.SeverityHigh {
			t.Errorf("default fail-on = %s", c.Gate.FailOn)
		}
		if got := c.Lint.Dockerfiles; len(got) != 1 || got[0] != "Dockerfile" {
			t.Errorf("default dockerfiles = %v", got)
		}
		if !*c.Validate.Strict {
			t.Error("strict should default to true")
		}
		if len(c.SBOM.Formats) != 2 {
			t.Errorf("sbom formats = %v", c.SBOM.Formats)
		}
	}
}

func TestStageFailOnOverridesGate(t *testing.T) {
	c, err := Parse("x.yaml", []byte("gate:\n  fail-on: critical\nlint:\n  fail-on: medium\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.FailOn("lint"); got != model.SeverityMedium {
		t.Errorf("lint fail-on = %s", got)
	}
	if got := c.FailOn("scan"); got != model.SeverityCritical {
		t.Errorf("scan fail-on = %s", got)
	}
}

func TestIgnoreLinesAndDates(t *testing.T) {
	c, err := Parse("x.yaml", []byte("version: 1\nignore:\n  - id: CVE-2024-1\n    reason: not reachable\n    expires: 2026-01-31\n  - id: TG-DF-001\n    reason: legacy\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ignore) != 2 || c.Ignore[0].Line != 3 || c.Ignore[1].Line != 6 {
		t.Fatalf("ignores = %+v", c.Ignore)
	}
	if got := c.Ignore[0].Expires.Format("2006-01-02"); got != "2026-01-31" {
		t.Errorf("expires = %s", got)
	}
	if !c.Ignore[1].Expires.IsZero() {
		t.Error("no expiry should be zero")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "tollgate.yaml")
	if c, err := Load(missing, false); err != nil || c.Gate.FailOn != model.SeverityHigh {
		t.Fatalf("optional missing config: %v", err)
	}
	if _, err := Load(missing, true); err == nil {
		t.Fatal("required missing config must fail")
	}
	if err := os.WriteFile(missing, []byte("lint:\n  nope: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(missing, false)
	if err == nil || !strings.Contains(err.Error(), missing+":2:") {
		t.Fatalf("want error naming %s:2, got %v", missing, err)
	}
}

func TestDemoConfigParses(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "fixtures", "demo", FileName), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path == "" {
		t.Error("path not recorded")
	}
}
