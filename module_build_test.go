//go:build daggerunit

package main

import (
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/build"
	"github.com/tollgate-dev/tollgate/internal/config"
)

func TestBuildSpecAppliesArgumentsToConfig(t *testing.T) {
	cfg, err := config.Parse("tollgate.yaml", []byte("build:\n  context: app\n  dockerfile: docker/Dockerfile\n  target: runtime\n  build-args: {BASE: alpine, MODE: prod}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := buildSpec(cfg, buildInputs{buildArgs: []string{"MODE=debug", "EXTRA=1"}, sourceURL: "https://user:tok@git.example.com/app.git",
		revision: "abc", epoch: 1700000000})
	if err != nil {
		t.Fatal(err)
	}
	if s.contextDir != "app" || s.dockerfile != "docker/Dockerfile" || s.target != "runtime" {
		t.Errorf("spec %+v", s)
	}
	if got := strings.Join(s.buildArgs, " "); got != "BASE=alpine EXTRA=1 MODE=debug SOURCE_DATE_EPOCH=1700000000" {
		t.Errorf("build args %q", got)
	}
	if s.annotations[build.AnnotationSource] != "https://git.example.com/app.git" || s.annotations[build.AnnotationCreated] != "2023-11-14T22:13:20Z" ||
		s.annotations[build.AnnotationRevision] != "abc" {
		t.Errorf("annotations %v (credentials must be stripped)", s.annotations)
	}
	if cfg.Build.BuildArgs["MODE"] != "prod" {
		t.Error("buildSpec changed the loaded config")
	}
	if _, err := buildSpec(cfg, buildInputs{buildArgs: []string{"NOEQUALS"}}); err == nil {
		t.Error("a build arg without = was accepted")
	}
	if _, inside := relativeTo("app", "docker/Dockerfile"); inside {
		t.Error("a Dockerfile outside the context was taken as inside")
	}
	if rel, inside := relativeTo("app", "app/Dockerfile"); !inside || rel != "Dockerfile" {
		t.Errorf("relativeTo = %q %v", rel, inside)
	}
}

func TestPublishTarget(t *testing.T) {
	cfg := config.Default()
	if _, _, err := publishTarget(cfg, "", nil); err == nil {
		t.Error("no repository accepted")
	}
	repo, tags, err := publishTarget(cfg, "registry.example.com/team/app", nil)
	if err != nil || repo != "registry.example.com/team/app" || strings.Join(tags, ",") != "latest" {
		t.Errorf("got %s %v %v", repo, tags, err)
	}
	if _, _, err := publishTarget(cfg, "registry.example.com/team/app", []string{"bad tag"}); err == nil {
		t.Error("an invalid tag was accepted")
	}
}
