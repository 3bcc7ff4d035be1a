package score

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// TestFailClosed runs stand-ins for kube-score that crash, hang or print something other than
// kube-score's JSON: each must be a tool error, never a pass. The stand-ins are only for these
// failure paths; the JSON they replay is real kube-score output.
func TestFailClosed(t *testing.T) {
	cfg := config.Default()
	docs := load(t, "bad-latest-tag")
	// Real output of a real run, to replay broken or contradicted.
	out := t.TempDir()
	if _, err := (Runner{Binary: kubeScore(t), OutDir: out}).Score(context.Background(), OptionsFrom(cfg), docs); err != nil {
		t.Fatal(err)
	}
	realJSON, err := os.ReadFile(filepath.Join(out, RawOutputName))
	if err != nil {
		t.Fatal(err)
	}
	replay := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := replay("real.json", realJSON)
	mangle := func(oldNew ...string) string {
		s := string(realJSON)
		for i := 0; i+1 < len(oldNew); i += 2 {
			if !strings.Contains(s, oldNew[i]) {
				t.Fatalf("real output lacks %q", oldNew[i])
			}
			s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
		}
		return replay("mangled.json", []byte(s))
	}

	cases := []struct {
		name    string
		binary  string
		timeout time.Duration
		want    string // part of the error message
	}{
		{"garbage", fakeTool(t, "echo 'this is not JSON'"), 0, "read kube-score JSON output"},
		{"empty output", fakeTool(t, "exit 0"), 0, "read kube-score JSON output"},
		{"parse failure exit 1", fakeTool(t, "echo 'Failed to score files: boom' >&2; exit 1"), 0, "Failed to score files: boom"},
		{"false", "/bin/false", 0, "exited with code 1"},
		{"unexpected exit code", fakeTool(t, "cat "+good+"; exit 2"), 0, "exited with code 2"},
		{"exit code contradicts output", fakeTool(t, "cat "+good+"; exit 0"), 0, "does not match its output"},
		{"trailing garbage", fakeTool(t, "cat "+good+"; echo garbage; exit 1"), 0, "unexpected data after"},
		{"truncated", fakeTool(t, "head -c 200 "+good+"; exit 1"), 0, "read kube-score JSON output"},
		{"not a list", fakeTool(t, "echo '{\"object_name\": \"x\"}'; exit 1"), 0, "read kube-score JSON output"},
		{"nothing scored", fakeTool(t, "echo '[]'"), 0, "did not report on Deployment/shop/web"},
		{"null", fakeTool(t, "echo null"), 0, "did not report on"},
		{"unknown grade", fakeTool(t, "cat "+mangle(`"grade": 1,`, `"grade": 3,`)+"; exit 1"), 0, "unknown grade 3"},
		// Every object under a file name Tollgate did not give, one of them under an unknown key.
		{"unknown object", fakeTool(t, "cat "+replay("unknown.json", []byte(strings.Replace(strings.ReplaceAll(string(realJSON), `input-0001.yaml`, `elsewhere.yaml`),
			`"Deployment/apps/v1/shop/web"`, `"Deployment/apps/v1/shop/nowhere"`, 1)))+"; exit 1"), 0, "not among its inputs"},
		{"check without id", fakeTool(t, "cat "+mangle(`"id": "container-image-tag"`, `"id": ""`)+"; exit 1"), 0, "has no id"},
		{"crash", fakeTool(t, "kill -9 $$"), 0, "crashed"},
		{"hang", fakeTool(t, "exec sleep 60"), 300 * time.Millisecond, "did not finish"},
		{"missing binary", filepath.Join(t.TempDir(), "nope"), 0, "could not start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res, err := Runner{Binary: c.binary, Timeout: c.timeout}.Score(context.Background(), OptionsFrom(cfg), docs)
			var te *model.ToolError
			if !errors.As(err, &te) {
				t.Fatalf("got result %+v, err %v; want a tool error", res, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			// The pipeline turns it into a failing result with exit code 3.
			r := model.ErrorResult(Name, Tool(), err)
			run := model.Run{Stages: []*model.StageResult{r}}
			if r.Status != model.StatusError || run.ExitCode() != model.ExitTool {
				t.Fatalf("result %s exit %d, want error and exit 3", r.Status, run.ExitCode())
			}
		})
	}

	// The replayed real output itself is accepted: the cases above fail for their defect alone.
	res, err := Runner{Binary: fakeTool(t, "cat "+good+"; exit 1")}.Score(context.Background(), OptionsFrom(cfg), docs)
	if err != nil || len(res.Findings) != 1 || res.Findings[0].RuleID != "container-image-tag" {
		t.Fatalf("replay of real output: %v, %v", res, err)
	}
}
