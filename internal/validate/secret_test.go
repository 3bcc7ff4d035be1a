package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/canary"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/report"
)

// Issue 8, point 5: Secret values never reach kubeconform. A Secret holding a random canary
// (data, stringData, last-applied annotation, a List item, a kustomize secretGenerator) is
// validated through a wrapper that records every argument, input file and output of
// kubeconform, and in process; the canary is in none of their inputs, nor in the findings or any
// report. The Secrets
// are still validated: the misspelled field of one is found.
func TestSecretValuesNeverReachKubeconform(t *testing.T) {
	c := canary.New()
	root := t.TempDir()
	if err := canary.Project(root, c); err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(t.TempDir(), "capture")
	bin, err := canary.Wrapper(t.TempDir(), kubeconform(t), capture)
	if err != nil {
		t.Fatal(err)
	}
	l := &manifest.Loader{Root: root, Shallow: true}
	docs, err := l.Load(context.Background(), []string{"k8s", "gen"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ValidateBinary(context.Background(), bin, docs, nil, builtinSchemas(t), defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// In process, kubeconform's validator is handed the same redacted texts.
	plan, err := newPlan(docs, nil, builtinSchemas(t), defaultOptions(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var texts strings.Builder
	for _, b := range plan.texts {
		texts.Write(b)
		texts.WriteString("\n")
	}
	if strings.Contains(texts.String(), c) || !strings.Contains(texts.String(), "cmVkYWN0ZWQ=") {
		t.Errorf("the texts handed to the validator in process hold the canary or no redacted Secret")
	}
	inproc, err := Validate(context.Background(), docs, nil, builtinSchemas(t), defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if a, b := fmt.Sprintf("%+v", inproc.Findings), fmt.Sprintf("%+v", res.Findings); a != b {
		t.Errorf("in process and the binary disagree:\nin process: %s\nbinary:     %s", a, b)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, f.Location.Resource+" "+f.RuleID)
	}
	// Placeholders keep each value's type and validity: the integer in stringData and the
	// misspelled field are still found.
	if strings.Join(got, ";") != "Secret/db K8S-SCHEMA;Secret/typo K8S-UNKNOWN-FIELD" {
		t.Errorf("findings %v, want the integer in Secret/db's stringData and Secret/typo's misspelled stringData", got)
	}
	// The recording is real: kubeconform was given the Secrets, redacted.
	inputs := canary.Find("cmVkYWN0ZWQ=", []string{capture}, nil)
	if len(inputs) == 0 {
		t.Fatal("no redacted Secret among kubeconform's recorded inputs: the wrapper recorded nothing")
	}
	out := t.TempDir()
	run := &model.Run{Version: "test", Stages: []*model.StageResult{res}}
	if _, err := report.WriteAll(out, run); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(res)
	if hits := canary.Find(c, []string{capture, out}, map[string]string{"result": string(j)}); len(hits) > 0 {
		t.Errorf("the canary reached %v", hits)
	}
	// And it was there to find: the project's files hold it.
	if hits := canary.Find(c, []string{root}, nil); len(hits) < 2 {
		t.Fatalf("canary project holds the canary in %v", hits)
	}
	_ = os.RemoveAll(capture)
}
