package tree

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWalkHonoursIgnoreRules(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		".gitignore":                "/build/\n*.log\n!keep.log\ngen/\n",
		"app/.gitignore":            "local.yaml\n",
		"app/deploy.yaml":           "",
		"app/local.yaml":            "", // ignored by app/.gitignore
		"app/gen/out.yaml":          "", // gen/ anywhere
		"build/Dockerfile":          "", // /build/ at the root only
		"src/build/Dockerfile":      "", // not the root's build/
		"debug.log":                 "", // *.log
		"keep.log":                  "", // re-included
		"node_modules/x/Dockerfile": "",
		"src/vendor/y/a.yaml":       "",
		"third_party/z/b.yaml":      "",
		".github/workflows/ci.yaml": "",
		"src/.env.yaml":             "",
	}
	for p, b := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		dir  string
		want string
	}{
		{".", "app/deploy.yaml,keep.log,src/build/Dockerfile"},
		// Walking a subdirectory still applies the .gitignore files above it.
		{"app", "app/deploy.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			var got []string
			err := Walk(root, filepath.Join(root, tt.dir), func(e Entry) error {
				if !e.IsDir {
					got = append(got, e.Rel)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("walked %v, want %s", got, tt.want)
			}
		})
	}
	if !Ignored(root, filepath.Join(root, "app", "local.yaml"), false) || Ignored(root, filepath.Join(root, "app", "deploy.yaml"), false) {
		t.Error("Ignored disagrees with Walk")
	}
}
