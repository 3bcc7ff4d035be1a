package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// contractRun is exactly the documented `--format json` contract and nothing more.
type contractRun struct {
	Version string          `json:"version"`
	Passed  bool            `json:"passed"`
	Stages  []contractStage `json:"stages"`
}

type contractStage struct {
	Stage  string `json:"stage"`
	Status string `json:"status"`
	Tool   struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"tool"`
	Findings []contractFinding `json:"findings"`
}

type contractFinding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Resource string `json:"resource"`
}

func TestJSONContract(t *testing.T) {
	out := render(t, "json", fixtureRun())
	var got contractRun
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "0.1.0" || got.Passed {
		t.Errorf("version=%q passed=%v, want 0.1.0 and false", got.Version, got.Passed)
	}
	var stages []string
	for _, s := range got.Stages {
		stages = append(stages, s.Stage+"/"+s.Status+"/"+s.Tool.Name+"@"+s.Tool.Version)
	}
	if want := "lint/fail/tollgate-lint@0.1.0 scan/fail/trivy@v0.74.0 validate/error/kubeconform@v0.8.0 sign/skipped/cosign@v2.6.5 score/pass/kube-score@v1.20.0"; strings.Join(stages, " ") != want {
		t.Errorf("stages = %v\nwant     %s", stages, want)
	}
	wantLint := []contractFinding{
		{Rule: "TG001", Severity: "HIGH", Message: "FROM alpine:latest is not pinned | use a tag\nor a digest", File: "Dockerfile", Line: 1},
		{Rule: "TG002", Severity: "MEDIUM", Message: "no USER instruction | the image runs as root\nadd a USER", File: "Dockerfile", Line: 12},
	}
	if !reflect.DeepEqual(got.Stages[0].Findings, wantLint) {
		t.Errorf("lint findings = %+v\nwant %+v", got.Stages[0].Findings, wantLint)
	}
	if f := got.Stages[1].Findings; len(f) != 1 || f[0].Resource != "registry.local/app:1.0 (alpine 3.19)" || f[0].File != "" || f[0].Severity != "CRITICAL" {
		t.Errorf("scan findings = %+v (suppressed ones must not be listed here)", f)
	}
	if len(got.Stages[2].Findings) != 0 || got.Stages[2].Findings == nil {
		t.Errorf("errored stage findings = %#v, want an empty array", got.Stages[2].Findings)
	}

	// The same document read without a schema: every contract key is present with its JSON
	// type, even when empty, and locations stay flat.
	var raw map[string]any
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	wantType(t, raw, "version", "")
	wantType(t, raw, "passed", false)
	wantType(t, raw, "stages", []any{})
	for _, st := range raw["stages"].([]any) {
		s := st.(map[string]any)
		wantType(t, s, "stage", "")
		wantType(t, s, "status", "")
		wantType(t, s, "tool", map[string]any{})
		wantType(t, s["tool"].(map[string]any), "name", "")
		wantType(t, s["tool"].(map[string]any), "version", "")
		wantType(t, s, "findings", []any{})
		wantType(t, s, "suppressed", []any{})
		for _, list := range []string{"findings", "suppressed"} {
			for _, fi := range s[list].([]any) {
				f := fi.(map[string]any)
				for _, k := range []string{"rule", "severity", "message", "file", "resource"} {
					wantType(t, f, k, "")
				}
				wantType(t, f, "line", float64(0))
				if _, nested := f["location"]; nested {
					t.Errorf("finding nests its location: %v", f)
				}
			}
		}
	}
}

func wantType(t *testing.T, obj map[string]any, key string, like any) {
	t.Helper()
	v, ok := obj[key]
	if !ok {
		t.Errorf("key %q missing in %v", key, obj)
		return
	}
	if reflect.TypeOf(v) != reflect.TypeOf(like) {
		t.Errorf("key %q = %#v (%T), want a %T", key, v, v, like)
	}
}

func TestJSONExtras(t *testing.T) {
	var got jsonReport
	if err := json.Unmarshal(render(t, "json", fixtureRun()), &got); err != nil {
		t.Fatal(err)
	}
	if got.ExitCode != model.ExitTool || got.DurationMS != 4200 {
		t.Errorf("exit_code=%d duration_ms=%d", got.ExitCode, got.DurationMS)
	}
	lint := got.Stages[0]
	if len(lint.Suppressed) != 1 || lint.Suppressed[0].Suppression == nil ||
		*lint.Suppressed[0].Suppression != (jsonSuppression{Kind: "config", Reason: "legacy build, tracked in JIRA-12", Expires: "2026-12-31"}) {
		t.Errorf("lint suppressed = %+v", lint.Suppressed)
	}
	if !lint.Findings[0].Blocking || lint.Findings[1].Blocking || lint.Findings[0].Fix == "" || lint.Findings[0].URL == "" {
		t.Errorf("lint findings extras = %+v", lint.Findings)
	}
	if lint.Counts["HIGH"] != 1 || lint.Counts["MEDIUM"] != 1 || lint.Counts["SUPPRESSED"] != 1 {
		t.Errorf("lint counts = %v", lint.Counts)
	}
	if scan := got.Stages[1]; scan.Findings[0].Extra["fixed"] != "3.1.5" {
		t.Errorf("scan extra = %v", scan.Findings[0].Extra)
	}
	if v := got.Stages[2]; v.Error == "" || v.ErrorKind != "tool" {
		t.Errorf("validate error = %q kind %q", v.Error, v.ErrorKind)
	}
	// HTML is not escaped: the JSON is for scripts and people, not for embedding in pages.
	if !bytes.Contains(render(t, "json", fixtureRun()), []byte("(<script> in a header)")) {
		t.Error("JSON escapes < and >")
	}
}

func TestJSONPassedAndOrder(t *testing.T) {
	var clean contractRun
	if err := json.Unmarshal(render(t, "json", cleanRun()), &clean); err != nil {
		t.Fatal(err)
	}
	if !clean.Passed {
		t.Error("clean run (pass, pass, skipped) reported passed=false")
	}

	run := &model.Run{Stages: []*model.StageResult{{
		Stage: "score", Status: model.StatusPass,
		Findings: []model.Finding{
			{RuleID: "B", Location: model.Location{File: "b.yaml", Line: 2}},
			{RuleID: "Z", Location: model.Location{File: "a.yaml", Line: 10}},
			{RuleID: "A", Location: model.Location{File: "b.yaml", Line: 2}},
			{RuleID: "C", Location: model.Location{Resource: "Deployment/web"}},
			{RuleID: "Y", Location: model.Location{File: "a.yaml", Line: 9}},
		},
	}}}
	var got contractRun
	if err := json.Unmarshal(render(t, "json", run), &got); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, f := range got.Stages[0].Findings {
		order = append(order, f.Rule)
	}
	if strings.Join(order, "") != "CYZAB" {
		t.Errorf("findings order = %v, want by file, line, rule: C Y Z A B", order)
	}
	// The stage's own slice is left as it was.
	if run.Stages[0].Findings[0].RuleID != "B" {
		t.Error("rendering reordered the run's findings")
	}
	if failed := (&model.Run{Stages: []*model.StageResult{{Stage: "x", Status: model.StatusError}}}); bytes.Contains(render(t, "json", failed), []byte(`"passed": true`)) {
		t.Error("a run with an errored stage reported passed=true")
	}
}
