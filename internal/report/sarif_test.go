package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// sarifSchemaID is the id the official schema declares for itself.
const sarifSchemaID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

// sarifSchema compiles the official SARIF 2.1.0 schema from testdata (see testdata/README.md),
// with format assertions on, so uri and date-time strings are checked too.
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("parse SARIF schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(sarifSchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(sarifSchemaID)
	if err != nil {
		t.Fatalf("compile SARIF schema: %v", err)
	}
	return sch
}

func validateSARIF(sch *jsonschema.Schema, b []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// edgeRun holds the awkward cases: no tool name, a finding with no location at all, a column,
// an unknown severity, an empty message, an absolute path inside and one outside the project,
// a resource whose name starts like a URI scheme, and a failed gate with no finding marked.
func edgeRun() *model.Run {
	return &model.Run{
		Version: "dev",
		Source:  "/work/project",
		Stages: []*model.StageResult{
			{
				Stage: "policy", Status: model.StatusFail, Summary: "gate failed",
				Findings: []model.Finding{
					{RuleID: "P1", Message: "", Severity: model.SeverityUnknown},
					{RuleID: "P2", Severity: model.SeverityInfo, Message: "col", Location: model.Location{File: "/work/project/k8s/deploy.yaml", Line: 3, Column: 7}},
					{RuleID: "P3", Severity: model.SeverityLow, Message: "outside", Location: model.Location{File: "/etc/passwd", Line: 1}},
					{RuleID: "P4", Severity: model.SeverityMedium, Message: "res", Location: model.Location{Resource: "alpine:3.19"}},
					{RuleID: "P5", Severity: model.SeverityHigh, Message: "inline", Location: model.Location{File: "./a/../b.yaml"}, Suppression: &model.Suppression{Kind: "inline"}},
					{RuleID: "", Severity: model.SeverityHigh, Message: "no rule", Location: model.Location{File: "c.yaml"}},
				},
			},
			{Stage: "deploy", Status: model.StatusError, Error: "", Findings: nil},
		},
	}
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	sch := sarifSchema(t)
	for name, run := range map[string]*model.Run{
		"fixture": fixtureRun(),
		"clean":   cleanRun(),
		"edge":    edgeRun(),
		"empty":   {Version: "0.1.0"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := validateSARIF(sch, render(t, "sarif", run)); err != nil {
				t.Errorf("SARIF output is not valid SARIF 2.1.0:\n%v", err)
			}
		})
	}
}

// TestSARIFSchemaRejectsInvalid proves the validation above can fail: each case breaks the valid
// fixture output in one way the schema forbids.
func TestSARIFSchemaRejectsInvalid(t *testing.T) {
	sch := sarifSchema(t)
	valid := render(t, "sarif", fixtureRun())
	if err := validateSARIF(sch, valid); err != nil {
		t.Fatalf("fixture output must be valid to start from: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(doc map[string]any)
	}{
		{"no version", func(d map[string]any) { delete(d, "version") }},
		{"wrong version", func(d map[string]any) { d["version"] = "2.0.0" }},
		{"run without tool", func(d map[string]any) { delete(run0(d), "tool") }},
		{"unknown level", func(d map[string]any) { result0(d)["level"] = "fatal" }},
		{"line zero", func(d map[string]any) {
			loc := result0(d)["locations"].([]any)[0].(map[string]any)
			loc["physicalLocation"].(map[string]any)["region"].(map[string]any)["startLine"] = 0
		}},
		{"message without text", func(d map[string]any) { result0(d)["message"] = map[string]any{} }},
		{"bad suppression kind", func(d map[string]any) {
			res := run0(d)["results"].([]any)[2].(map[string]any)
			res["suppressions"].([]any)[0].(map[string]any)["kind"] = "ignored"
		}},
		{"bad guid", func(d map[string]any) {
			res := run0(d)["results"].([]any)[2].(map[string]any)
			res["suppressions"].([]any)[0].(map[string]any)["guid"] = "not-a-guid"
		}},
		{"null suppression status", func(d map[string]any) {
			res := run0(d)["results"].([]any)[2].(map[string]any)
			res["suppressions"].([]any)[0].(map[string]any)["status"] = nil
		}},
		{"unknown top-level property", func(d map[string]any) { d["tollgate"] = true }},
		{"uri that is not a URI reference", func(d map[string]any) {
			loc := result0(d)["locations"].([]any)[0].(map[string]any)
			loc["physicalLocation"].(map[string]any)["artifactLocation"].(map[string]any)["uri"] = `build\web app`
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(valid, &doc); err != nil {
				t.Fatal(err)
			}
			tc.mutate(doc)
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateSARIF(sch, b); err == nil {
				t.Errorf("schema accepted a document with %s", tc.name)
			}
		})
	}
}

func run0(d map[string]any) map[string]any    { return d["runs"].([]any)[0].(map[string]any) }
func result0(d map[string]any) map[string]any { return run0(d)["results"].([]any)[0].(map[string]any) }

// sarifDoc is the part of SARIF the tests below read.
type sarifDoc struct {
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				Rules   []struct {
					ID               string `json:"id"`
					ShortDescription struct {
						Text string `json:"text"`
					} `json:"shortDescription"`
					Help struct {
						Text string `json:"text"`
					} `json:"help"`
					HelpURI              string                 `json:"helpUri"`
					DefaultConfiguration struct{ Level string } `json:"defaultConfiguration"`
					Properties           map[string]any         `json:"properties"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		AutomationDetails struct {
			ID string `json:"id"`
		} `json:"automationDetails"`
		Invocations []struct {
			ExecutionSuccessful        bool `json:"executionSuccessful"`
			ToolExecutionNotifications []struct {
				Level   string `json:"level"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
			} `json:"toolExecutionNotifications"`
		} `json:"invocations"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation *struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine   int `json:"startLine"`
						StartColumn int `json:"startColumn"`
					} `json:"region"`
				} `json:"physicalLocation"`
				LogicalLocations []struct {
					FullyQualifiedName string `json:"fullyQualifiedName"`
				} `json:"logicalLocations"`
			} `json:"locations"`
			Suppressions []struct {
				Kind          string         `json:"kind"`
				Status        string         `json:"status"`
				Justification string         `json:"justification"`
				Properties    map[string]any `json:"properties"`
			} `json:"suppressions"`
		} `json:"results"`
	} `json:"runs"`
}

func decodeSARIF(t *testing.T, run *model.Run) sarifDoc {
	t.Helper()
	var doc sarifDoc
	if err := json.Unmarshal(render(t, "sarif", run), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestSARIFContent(t *testing.T) {
	doc := decodeSARIF(t, fixtureRun())
	if doc.Version != "2.1.0" {
		t.Errorf("version = %q", doc.Version)
	}
	// One run per stage that ran; the skipped sign stage has none.
	var names []string
	for _, r := range doc.Runs {
		names = append(names, r.Tool.Driver.Name+"@"+r.Tool.Driver.Version+"="+r.AutomationDetails.ID)
	}
	want := "tollgate-lint@0.1.0=tollgate/lint/ trivy@v0.74.0=tollgate/scan/ kubeconform@v0.8.0=tollgate/validate/ kube-score@v1.20.0=tollgate/score/"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("runs = %s\nwant   %s", got, want)
	}

	checkRuleIndexes(t, doc)
	for _, r := range doc.Runs {
		for _, res := range r.Results {
			// Code scanning rejects a file with any result lacking a physical location.
			if len(res.Locations) == 0 || res.Locations[0].PhysicalLocation == nil || res.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" {
				t.Errorf("%s: result %s has no artifact location", r.Tool.Driver.Name, res.RuleID)
			}
		}
	}

	lint, scan, validate := doc.Runs[0], doc.Runs[1], doc.Runs[2]
	rules := map[string]int{}
	for i, r := range lint.Tool.Driver.Rules {
		rules[r.ID] = i
	}
	// TG003 is not declared by the stage but seen in a finding: it still gets a descriptor.
	for _, id := range []string{"TG001", "TG002", "TG003"} {
		if _, ok := rules[id]; !ok {
			t.Errorf("lint rules lack %s", id)
		}
	}
	tg1 := lint.Tool.Driver.Rules[rules["TG001"]]
	if tg1.HelpURI != "https://tollgate.dev/rules/TG001" || !strings.Contains(tg1.Help.Text, "Pin the base image") ||
		tg1.DefaultConfiguration.Level != "error" || tg1.Properties["security-severity"] != "8.0" {
		t.Errorf("TG001 descriptor = %+v", tg1)
	}
	if got := lint.Tool.Driver.Rules[rules["TG003"]].ShortDescription.Text; got != "ADD used for a local file" {
		t.Errorf("TG003 short description = %q, want the finding's title", got)
	}
	if got := scan.Tool.Driver.Rules[0].Properties["security-severity"]; got != "9.5" {
		t.Errorf("critical security-severity = %v", got)
	}

	// Findings in file, line, rule order with levels by severity.
	var order []string
	for _, res := range lint.Results {
		order = append(order, res.RuleID+":"+res.Level)
	}
	if got := strings.Join(order, " "); got != "TG001:error TG002:warning TG003:note" {
		t.Errorf("lint results = %s", got)
	}
	first := lint.Results[0].Locations[0]
	if first.PhysicalLocation.ArtifactLocation.URI != "Dockerfile" || first.PhysicalLocation.Region == nil || first.PhysicalLocation.Region.StartLine != 1 {
		t.Errorf("TG001 location = %+v", first.PhysicalLocation)
	}
	if got := lint.Results[2].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != "build/web%20app/Dockerfile" {
		t.Errorf("path with a space = %q, want percent-encoded", got)
	}
	sup := lint.Results[2].Suppressions
	if len(sup) != 1 || sup[0].Kind != "external" || sup[0].Status != "accepted" ||
		sup[0].Justification != "legacy build, tracked in JIRA-12" || sup[0].Properties["expires"] != "2026-12-31" {
		t.Errorf("TG003 suppressions = %+v", sup)
	}
	if len(lint.Results[0].Suppressions) != 0 {
		t.Error("active finding carries a suppression")
	}

	// A resource-only finding: no region, and the resource as a logical location.
	cve := scan.Results[0].Locations[0]
	if cve.PhysicalLocation.Region != nil {
		t.Errorf("resource-only finding has a region: %+v", cve.PhysicalLocation.Region)
	}
	if len(cve.LogicalLocations) != 1 || cve.LogicalLocations[0].FullyQualifiedName != "registry.local/app:1.0 (alpine 3.19)" {
		t.Errorf("logical locations = %+v", cve.LogicalLocations)
	}

	// The errored stage reports a failed invocation carrying its error.
	inv := validate.Invocations
	if len(inv) != 1 || inv[0].ExecutionSuccessful || len(inv[0].ToolExecutionNotifications) != 1 ||
		inv[0].ToolExecutionNotifications[0].Level != "error" ||
		inv[0].ToolExecutionNotifications[0].Message.Text != "kubeconform: signal: killed (timeout after 2m0s)" {
		t.Errorf("validate invocations = %+v", inv)
	}
	if !lint.Invocations[0].ExecutionSuccessful {
		t.Error("lint ran to completion but its invocation says it did not")
	}
}

// checkRuleIndexes checks that every result points at the rule descriptor of its own ID.
func checkRuleIndexes(t *testing.T, doc sarifDoc) {
	t.Helper()
	for _, r := range doc.Runs {
		for _, res := range r.Results {
			if res.RuleID == "" || res.RuleIndex < 0 || res.RuleIndex >= len(r.Tool.Driver.Rules) || r.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
				t.Errorf("%s: result %q has ruleIndex %d not pointing at its rule", r.Tool.Driver.Name, res.RuleID, res.RuleIndex)
			}
		}
	}
}

func TestSARIFEdgeCases(t *testing.T) {
	doc := decodeSARIF(t, edgeRun())
	checkRuleIndexes(t, doc)
	if len(doc.Runs) != 2 {
		t.Fatalf("%d runs, want 2", len(doc.Runs))
	}
	policy := doc.Runs[0]
	if policy.Tool.Driver.Name != "tollgate-policy" {
		t.Errorf("driver name for a stage without a tool name = %q", policy.Tool.Driver.Name)
	}
	byRule := map[string]int{}
	for i, r := range policy.Results {
		byRule[r.RuleID] = i
	}
	p1 := policy.Results[byRule["P1"]]
	if len(p1.Locations) != 0 || p1.Message.Text == "" || p1.Level != "note" {
		t.Errorf("P1 (no location, no message, unknown severity) = %+v", p1)
	}
	p2 := policy.Results[byRule["P2"]].Locations[0].PhysicalLocation
	if p2.ArtifactLocation.URI != "k8s/deploy.yaml" || p2.Region.StartColumn != 7 {
		t.Errorf("P2 absolute path inside the project = %+v", p2)
	}
	if got := policy.Results[byRule["P3"]].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != "file:///etc/passwd" {
		t.Errorf("P3 absolute path outside the project = %q", got)
	}
	if got := policy.Results[byRule["P4"]].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != "./alpine:3.19" {
		t.Errorf("P4 resource uri = %q, want a relative reference", got)
	}
	p5 := policy.Results[byRule["P5"]]
	if got := p5.Locations[0].PhysicalLocation.ArtifactLocation.URI; got != "b.yaml" {
		t.Errorf("P5 uri = %q, want the cleaned path", got)
	}
	if len(p5.Suppressions) != 1 || p5.Suppressions[0].Kind != "inSource" || p5.Suppressions[0].Justification == "" {
		t.Errorf("P5 inline suppression = %+v", p5.Suppressions)
	}
	if i, ok := byRule["policy"]; !ok || policy.Results[i].Message.Text != "no rule" {
		t.Errorf("finding without a rule ID not reported under the stage's name: %v", byRule)
	}
	deploy := doc.Runs[1]
	if deploy.Invocations[0].ExecutionSuccessful || deploy.Invocations[0].ToolExecutionNotifications[0].Message.Text == "" {
		t.Errorf("errored stage without a message = %+v", deploy.Invocations)
	}
}

func TestSARIFLevelsAndScores(t *testing.T) {
	for _, tc := range []struct {
		sev   model.Severity
		level string
		score string
	}{
		{model.SeverityCritical, "error", "9.5"},
		{model.SeverityHigh, "error", "8.0"},
		{model.SeverityMedium, "warning", "5.5"},
		{model.SeverityLow, "note", "2.0"},
		{model.SeverityInfo, "note", "0.0"},
		{model.SeverityUnknown, "note", "0.0"},
	} {
		if got := sarifLevel(tc.sev); got != tc.level {
			t.Errorf("sarifLevel(%s) = %s, want %s", tc.sev, got, tc.level)
		}
		if got := securitySeverity(tc.sev); got != tc.score {
			t.Errorf("securitySeverity(%s) = %s, want %s", tc.sev, got, tc.score)
		}
	}
}
