package lint

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

const badDir = "../../fixtures/bad/lint"

// lintFixture lints fixtures/bad/lint/<name>/Dockerfile (and its .dockerignore).
func lintFixture(t *testing.T, name string, opts Options) *model.StageResult {
	t.Helper()
	in, err := ReadInput(badDir, filepath.Join(name, "Dockerfile"))
	if err != nil {
		t.Fatalf("read fixture %s: %v", name, err)
	}
	res, err := Lint(context.Background(), opts, []Input{in})
	if err != nil {
		t.Fatalf("lint %s: %v", name, err)
	}
	return res
}

// lintText lints inline Dockerfile text; ignore is the .dockerignore beside it (nil: none).
func lintText(t *testing.T, text string, ignore *string, opts Options) *model.StageResult {
	t.Helper()
	in := Input{Path: "Dockerfile", Content: []byte(text)}
	if ignore != nil {
		in.DockerIgnore, in.HasDockerIgnore = []byte(*ignore), true
	}
	res, err := Lint(context.Background(), opts, []Input{in})
	if err != nil {
		t.Fatalf("lint:\n%s\nerror: %v", text, err)
	}
	return res
}

// linesOf returns the sorted lines where rule id fired.
func linesOf(res *model.StageResult, id string) []int {
	ls := []int{}
	for _, f := range res.Findings {
		if f.RuleID == id {
			ls = append(ls, f.Location.Line)
		}
	}
	sort.Ints(ls)
	return ls
}

func findingsOf(res *model.StageResult, id string) []model.Finding {
	var out []model.Finding
	for _, f := range res.Findings {
		if f.RuleID == id {
			out = append(out, f)
		}
	}
	return out
}

func dump(res *model.StageResult) string {
	var b strings.Builder
	for _, f := range res.Findings {
		sup := ""
		if f.Suppression != nil {
			sup = " (suppressed: " + f.Suppression.Reason + ")"
		}
		fmt.Fprintf(&b, "\n  %s:%d %s %s %s%s", f.Location.File, f.Location.Line, f.RuleID, f.Severity, f.Message, sup)
	}
	return b.String()
}

func ptr(s string) *string { return &s }
