package score

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/canary"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/report"
)

// Issue 8, point 5: kube-score does not score Secrets, so it never gets them. A project whose
// Secrets hold a random canary is scored through a wrapper that records every argument, input
// file and output of kube-score: the canary is in none of them, nor in the findings, the raw
// kube-score.json artifact or any report, while the Deployment beside them is scored.
func TestSecretValuesNeverReachKubeScore(t *testing.T) {
	c := canary.New()
	root := t.TempDir()
	if err := canary.Project(root, c); err != nil {
		t.Fatal(err)
	}
	// Both ways kube-score gets documents: files Tollgate writes, and project files passed as
	// they are (Root set), which a file holding a Secret never is.
	for _, projectRoot := range []string{"", root} {
		secretValuesNeverReachKubeScore(t, c, root, projectRoot)
	}
}

func secretValuesNeverReachKubeScore(t *testing.T, c, root, projectRoot string) {
	capture := filepath.Join(t.TempDir(), "capture")
	bin, err := canary.Wrapper(t.TempDir(), kubeScore(t), capture)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := manifest.Load(context.Background(), []string{"k8s", "gen"}, root)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	res, err := Runner{Binary: bin, OutDir: out, Root: projectRoot}.Score(context.Background(), OptionsFrom(config.Default()), docs)
	if err != nil {
		t.Fatal(err)
	}
	res.Stage = Name
	scored := false
	for _, f := range res.Findings {
		if f.Location.Resource == "Deployment/app" {
			scored = true
		}
	}
	if !scored {
		t.Fatalf("the Deployment was not scored: %+v", res.Findings)
	}
	if args, err := os.ReadFile(filepath.Join(capture, "0", "args")); err != nil || !strings.Contains(string(args), "score") {
		t.Fatalf("the wrapper recorded no kube-score call (%v): the test would prove nothing", err)
	}
	run := &model.Run{Version: "test", Stages: []*model.StageResult{res}}
	if _, err := report.WriteAll(out, run); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(res)
	if hits := canary.Find(c, []string{capture, out}, map[string]string{"result": string(j)}); len(hits) > 0 {
		t.Errorf("the canary reached %v", hits)
	}
}
