package report

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// The structure GitLab's JUnit parser reads: <testsuites> of <testsuite> of <testcase>, each case
// with a name and classname and at most one of <failure>, <error> or <skipped>.
type xSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []xSuite `xml:"testsuite"`
}

type xSuite struct {
	Name     string  `xml:"name,attr"`
	Tests    int     `xml:"tests,attr"`
	Failures int     `xml:"failures,attr"`
	Errors   int     `xml:"errors,attr"`
	Skipped  int     `xml:"skipped,attr"`
	Cases    []xCase `xml:"testcase"`
}

type xCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	File      string    `xml:"file,attr"`
	Failure   *xOutcome `xml:"failure"`
	Error     *xOutcome `xml:"error"`
	Skipped   *xOutcome `xml:"skipped"`
	SystemOut string    `xml:"system-out"`
}

type xOutcome struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func parseJUnit(t *testing.T, run *model.Run) xSuites {
	t.Helper()
	out := render(t, "junit", run)
	if !strings.HasPrefix(string(out), xml.Header) {
		t.Error("JUnit report lacks the XML declaration")
	}
	var doc xSuites
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("JUnit report does not parse: %v\n%s", err, out)
	}
	checkJUnitStructure(t, doc)
	return doc
}

// checkJUnitStructure checks what every consumer relies on: counts that match the cases, no
// empty suite, named cases with one outcome at most.
func checkJUnitStructure(t *testing.T, doc xSuites) {
	t.Helper()
	var tests, failures, errors, skipped int
	for _, s := range doc.Suites {
		if s.Name == "" || len(s.Cases) == 0 {
			t.Errorf("suite %q is unnamed or empty", s.Name)
		}
		var f, e, sk int
		for _, c := range s.Cases {
			if c.Name == "" || c.Classname != s.Name {
				t.Errorf("suite %s: case %q has classname %q", s.Name, c.Name, c.Classname)
			}
			n := 0
			if c.Failure != nil {
				f, n = f+1, n+1
			}
			if c.Error != nil {
				e, n = e+1, n+1
			}
			if c.Skipped != nil {
				sk, n = sk+1, n+1
			}
			if n > 1 {
				t.Errorf("suite %s: case %q has %d outcomes", s.Name, c.Name, n)
			}
		}
		if s.Tests != len(s.Cases) || s.Failures != f || s.Errors != e || s.Skipped != sk {
			t.Errorf("suite %s counts tests=%d failures=%d errors=%d skipped=%d; cases say %d/%d/%d/%d",
				s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases), f, e, sk)
		}
		tests, failures, errors, skipped = tests+s.Tests, failures+s.Failures, errors+s.Errors, skipped+s.Skipped
	}
	if doc.Tests != tests || doc.Failures != failures || doc.Errors != errors || doc.Skipped != skipped {
		t.Errorf("testsuites counts %d/%d/%d/%d, suites add up to %d/%d/%d/%d",
			doc.Tests, doc.Failures, doc.Errors, doc.Skipped, tests, failures, errors, skipped)
	}
}

func TestJUnitOutcomes(t *testing.T) {
	doc := parseJUnit(t, fixtureRun())
	suites := map[string]xSuite{}
	var names []string
	for _, s := range doc.Suites {
		suites[s.Name] = s
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "lint scan validate sign score" {
		t.Errorf("suites = %s, want one per stage in run order", got)
	}
	for _, tc := range []struct {
		suite, caseName, outcome, message, typ string
	}{
		{"lint", "TG001 Dockerfile:1", "failure", "FROM alpine:latest is not pinned | use a tag or a digest", "HIGH"},
		{"lint", "TG002 Dockerfile:12", "pass", "", ""},
		{"lint", "TG003 build/web app/Dockerfile:4", "skipped", "suppressed (config): legacy build, tracked in JIRA-12, expires 2026-12-31", ""},
		{"scan", "CVE-2024-0001 registry.local/app:1.0 (alpine 3.19)", "failure", "openssl 3.1.0 has CVE-2024-0001 (<script> in a header), fixed in 3.1.5", "CRITICAL"},
		{"scan", "CVE-2024-0002 registry.local/app:1.0 (alpine 3.19)", "skipped", "suppressed (vex): vulnerable_code_not_in_execute_path", ""},
		{"validate", "validate: kubeconform run", "error", "kubeconform: signal: killed (timeout after 2m0s)", "tool"},
		{"sign", "sign: skipped", "skipped", "no signing key configured", ""},
		{"score", "score: no findings", "pass", "", ""},
	} {
		var c *xCase
		for i := range suites[tc.suite].Cases {
			if suites[tc.suite].Cases[i].Name == tc.caseName {
				c = &suites[tc.suite].Cases[i]
			}
		}
		if c == nil {
			t.Errorf("%s: no case %q", tc.suite, tc.caseName)
			continue
		}
		var o *xOutcome
		got := "pass"
		switch {
		case c.Failure != nil:
			got, o = "failure", c.Failure
		case c.Error != nil:
			got, o = "error", c.Error
		case c.Skipped != nil:
			got, o = "skipped", c.Skipped
		}
		if got != tc.outcome {
			t.Errorf("%s/%s: outcome %s, want %s", tc.suite, tc.caseName, got, tc.outcome)
			continue
		}
		if o != nil && (o.Message != tc.message || o.Type != tc.typ) {
			t.Errorf("%s/%s: message=%q type=%q, want %q %q", tc.suite, tc.caseName, o.Message, o.Type, tc.message, tc.typ)
		}
	}
	// Details travel with the case: the failure body has the fix, a passing finding says what it is.
	lint := suites["lint"]
	if !strings.Contains(lint.Cases[0].Failure.Text, "Fix: Pin the base image") {
		t.Errorf("failure body lacks the fix: %q", lint.Cases[0].Failure.Text)
	}
	if !strings.Contains(lint.Cases[1].SystemOut, "MEDIUM TG002") {
		t.Errorf("non-blocking finding system-out = %q", lint.Cases[1].SystemOut)
	}
	if lint.Cases[0].File != "Dockerfile" {
		t.Errorf("file attribute = %q", lint.Cases[0].File)
	}
	if doc.Failures != 2 || doc.Errors != 1 || doc.Skipped != 3 || doc.Tests != 8 {
		t.Errorf("totals tests=%d failures=%d errors=%d skipped=%d, want 8/2/1/3", doc.Tests, doc.Failures, doc.Errors, doc.Skipped)
	}
}

func TestJUnitEdgeCases(t *testing.T) {
	run := &model.Run{Stages: []*model.StageResult{
		// A failed gate whose findings are not marked blocking must still fail in CI.
		{Stage: "policy", Status: model.StatusFail, Summary: "gate failed: policy violations", Findings: []model.Finding{
			{RuleID: "K1", Severity: model.SeverityLow, Message: "bad \x1b[31mred\x1b[0m \x00 text ]]> <&>", Location: model.Location{File: "k.yaml"}},
		}},
		{Stage: "deploy", Status: model.StatusError},
		{Stage: "sbom", Status: model.StatusPass, Findings: nil},
	}}
	doc := parseJUnit(t, run)
	policy := doc.Suites[0]
	if policy.Failures != 1 || policy.Cases[1].Name != "policy: gate" || policy.Cases[1].Failure.Message != "gate failed: policy violations" {
		t.Errorf("failed gate without blocking findings: %+v", policy)
	}
	if !strings.Contains(policy.Cases[0].SystemOut, "]]> <&>") {
		t.Errorf("special characters lost: %q", policy.Cases[0].SystemOut)
	}
	if doc.Suites[1].Errors != 1 || doc.Suites[1].Cases[0].Error.Message == "" {
		t.Errorf("errored stage without a message: %+v", doc.Suites[1])
	}
	if doc.Suites[2].Tests != 1 || doc.Suites[2].Failures+doc.Suites[2].Errors+doc.Suites[2].Skipped != 0 {
		t.Errorf("empty passing stage: %+v", doc.Suites[2])
	}

	empty := parseJUnit(t, &model.Run{})
	if len(empty.Suites) != 0 || empty.Tests != 0 {
		t.Errorf("empty run: %+v", empty)
	}
}
