package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestExpandGlobs(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"src/a/Dockerfile", "src/b/Dockerfile", "src/b/Dockerfile.dev", "deploy/app/x.yaml", "deploy/db/y.yaml",
		"deploy/db/notes.txt", "crds/a.yaml", "sec/app.openvex.json", "k8s/z.yaml"} {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		yaml     string
		get      func(*Config) []string
		want     string // comma-joined, or the error's text
		wantLine int    // for errors
	}{
		{"one level", "lint:\n  dockerfiles: [src/*/Dockerfile]\n", func(c *Config) []string { return c.Lint.Dockerfiles },
			"src/a/Dockerfile,src/b/Dockerfile", 0},
		{"double star", "validate:\n  paths:\n    - deploy/**/*.yaml\n", func(c *Config) []string { return c.Validate.Paths },
			"deploy/app/x.yaml,deploy/db/y.yaml", 0},
		{"literals stay, duplicates go", "validate:\n  paths: [k8s, \"deploy/*\", deploy/app]\n", func(c *Config) []string { return c.Validate.Paths },
			"k8s,deploy/app,deploy/db", 0},
		{"alternatives", "lint:\n  dockerfiles: [\"src/b/Dockerfile{,.dev}\"]\n", func(c *Config) []string { return c.Lint.Dockerfiles },
			"src/b/Dockerfile,src/b/Dockerfile.dev", 0},
		{"crds", "validate:\n  crds: [\"crds/*.yaml\"]\n", func(c *Config) []string { return c.Validate.CRDs }, "crds/a.yaml", 0},
		{"score paths", "score:\n  paths: [\"deploy/db/*.yaml\"]\n", func(c *Config) []string { return c.Score.Paths }, "deploy/db/y.yaml", 0},
		{"vex", "scan:\n  vex: [\"sec/*.openvex.json\"]\n", func(c *Config) []string { return c.Scan.VEX }, "sec/app.openvex.json", 0},
		{"schema location templates are not globs", "validate:\n  schema-locations: [\"s/{{ .ResourceKind }}.json\"]\n",
			func(c *Config) []string { return c.Validate.SchemaLocations }, "s/{{ .ResourceKind }}.json", 0},
		{"no match names the line", "version: 1\nlint:\n  dockerfiles:\n    - Dockerfile\n    - \"services/*/Dockerfile\"\n", nil,
			`lint.dockerfiles: "services/*/Dockerfile" matches no file`, 5},
		{"bad pattern names the line", "validate:\n  paths: [\"deploy/[\"]\n", nil, `validate.paths: "deploy/[" is not a valid glob`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("tollgate.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = c.ExpandGlobs(root)
			if tt.get == nil {
				var ie *model.InputError
				if !errors.As(err, &ie) || ie.File != "tollgate.yaml" || ie.Line != tt.wantLine || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want an input error at tollgate.yaml:%d containing %q", err, tt.wantLine, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(tt.get(c), ","); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	// Defaults hold no glob: nothing to expand, nothing to fail.
	if err := Default().ExpandGlobs(root); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
