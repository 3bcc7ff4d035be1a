package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestBuildAndPushSections(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantLine int
		want     string
	}{
		{"secret value refused", "build:\n  secrets:\n    - id: npm\n      value: hunter2\n", 3, "secret values never go in"},
		{"secret needs env or file", "build:\n  secrets:\n    - id: npm\n", 3, "exactly one of env"},
		{"secret with both", "build:\n  secrets:\n    - {id: npm, env: A, file: b}\n", 3, "exactly one of env"},
		{"unknown builder", "build:\n  builder: kaniko\n", 1, "unknown builder"},
		{"bad timeout", "build:\n  timeout: soon\n", 1, "build.timeout"},
		{"bad platform", "build:\n  platforms: [amd64]\n", 1, "not a platform"},
		{"context outside project", "build:\n  context: ../other\n", 1, "inside the project"},
		{"bad build arg name", "build:\n  build-args: {\"1X\": y}\n", 1, "ARG name"},
		{"insecure non-loopback", "push:\n  repository: registry.example.com/app\n  insecure: true\n", 1, "loopback"},
		{"repository with tag", "push:\n  repository: registry.example.com/app:1\n", 1, "not a repository"},
		{"repository without registry", "push:\n  repository: app\n", 1, "not a repository"},
		{"bad tag", "push:\n  repository: registry.example.com/app\n  tags: [\"a b\"]\n", 1, "not a valid tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("tollgate.yaml", []byte(tt.yaml))
			var ie *model.InputError
			if !errors.As(err, &ie) || ie.Line != tt.wantLine || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v (line %d), want line %d and %q", err, lineOf(ie), tt.wantLine, tt.want)
			}
			if strings.Contains(tt.yaml, "hunter2") && strings.Contains(err.Error(), "hunter2") {
				t.Error("the secret value is echoed in the error")
			}
		})
	}
}

func lineOf(ie *model.InputError) int {
	if ie == nil {
		return -1
	}
	return ie.Line
}

func TestBuildAndPushRunOnlyWhenAsked(t *testing.T) {
	c := Default()
	if c.Build.Configured || c.Push.Configured {
		t.Fatal("defaults turn build or push on")
	}
	c, err := Parse("tollgate.yaml", []byte("build: {}\npush:\n  repository: 127.0.0.1:5000/app\n  insecure: true\n"))
	if err != nil || !c.Build.Configured || !c.Push.Configured || c.Build.Line != 1 || c.Push.Line != 2 {
		t.Fatalf("sections present: %+v %+v %v", c.Build, c.Push, err)
	}
	c, _ = Parse("tollgate.yaml", []byte("stages: [build, lint]\n"))
	if !c.Build.Configured || c.Push.Configured {
		t.Error("a stages list naming build must turn it on, and only it")
	}
	c = Default()
	c.Request([]string{"push"})
	if !c.Push.Configured || c.Build.Configured {
		t.Error("Request")
	}
}

func TestLintChecksTheBuildsDockerfile(t *testing.T) {
	tests := []struct {
		yaml      string
		want      string
		defaulted bool
	}{
		{"", "Dockerfile", true},
		{"build:\n  dockerfile: docker/Dockerfile.prod\n", "docker/Dockerfile.prod", false},
		{"build:\n  context: app\n", "app/Dockerfile", false},
		{"build:\n  dockerfile: a/Dockerfile\nlint:\n  dockerfiles: [b/Dockerfile]\n", "b/Dockerfile", false},
	}
	for _, tt := range tests {
		c, err := Parse("tollgate.yaml", []byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		got, defaulted := c.LintDockerfiles()
		if strings.Join(got, ",") != tt.want || defaulted != tt.defaulted {
			t.Errorf("%q: lint %v (defaulted %v), want %s (%v)", tt.yaml, got, defaulted, tt.want, tt.defaulted)
		}
	}
}

func TestParseBuildSecret(t *testing.T) {
	if s, err := ParseBuildSecret("id=npm,env=NPM_TOKEN"); err != nil || s.ID != "npm" || s.Env != "NPM_TOKEN" {
		t.Errorf("env form: %+v %v", s, err)
	}
	if s, err := ParseBuildSecret("id=npm,src=.npmrc"); err != nil || s.File != ".npmrc" {
		t.Errorf("src form: %+v %v", s, err)
	}
	for _, bad := range []string{"id=npm,value=hunter2", "id=npm", "env=X", "npm"} {
		_, err := ParseBuildSecret(bad)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
