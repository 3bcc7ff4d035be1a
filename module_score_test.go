//go:build daggerunit

package main

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestScorePaths(t *testing.T) {
	cfg := config.Default()
	if got, err := scorePaths(cfg, nil); err != nil || !slices.Equal(got, []string{"k8s"}) {
		t.Fatalf("default = %v, %v; want validate's k8s", got, err)
	}
	cfg.Score.Paths = []string{"deploy"}
	if got, err := scorePaths(cfg, nil); err != nil || !slices.Equal(got, []string{"deploy"}) {
		t.Fatalf("score.paths = %v, %v", got, err)
	}
	if got, err := scorePaths(cfg, []string{"a/b", "..x"}); err != nil || !slices.Equal(got, []string{"a/b", "..x"}) {
		t.Fatalf("arguments = %v, %v", got, err)
	}
	for _, bad := range []string{"/etc", "..", "../other", "a/../../b"} {
		_, err := scorePaths(cfg, []string{bad})
		var ie *model.InputError
		if !errors.As(err, &ie) {
			t.Errorf("%q: err = %v, want an input error", bad, err)
		}
	}
}

// Issue 8, points 5 and 8: the score and validate functions build tool inputs from files in
// the module's workdir, never inline file contents (which Dagger prints in its progress log,
// Secret values included), and do not prefix errors with the stage name twice.
func TestToolInputsAreNotInline(t *testing.T) {
	for _, file := range []string{"module_score.go", "module_validate.go", "module_manifests.go"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"WithNewFile(", "WithNewDirectory(", `"score: %w"`, `"validate: %w"`} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s uses %s", file, bad)
			}
		}
	}
}

func TestScrubPaths(t *testing.T) {
	scratch := "tollgate-validate-1234"
	abs := "/work/" + scratch
	tests := []struct {
		name string
		err  error
		kind string
		want string
	}{
		{"input error", &model.InputError{File: abs + "/src/k8s/a.yaml", Line: 3, Err: errors.New("bad")}, "input", "k8s/a.yaml:3: bad"},
		{"tool error", &model.ToolError{Tool: "kubeconform", Err: errors.New("open " + scratch + "/cache/schemas/1.36.0/index.json: no such file")}, "tool",
			"kubeconform: open cache/schemas/1.36.0/index.json: no such file"},
		{"several", manifest.Errors{{File: abs + "/src/a.yaml", Line: 1, Err: errors.New("x")}, {File: "b.yaml", Line: 2, Err: errors.New("y " + abs + "/src/c")}}, "input",
			"2 bad inputs:\n  a.yaml:1: x\n  b.yaml:2: y c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := scrubPaths(tt.err, abs+"/src", abs, scratch)
			var ie *model.InputError
			var te *model.ToolError
			kind := "other"
			if errors.As(err, &te) {
				kind = "tool"
			} else if errors.As(err, &ie) {
				kind = "input"
			}
			if kind != tt.kind || err.Error() != tt.want {
				t.Errorf("got %s %q, want %s %q", kind, err, tt.kind, tt.want)
			}
		})
	}
}
