//go:build daggerunit

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestPipelineSkip(t *testing.T) {
	withCfg := func(f func(c *config.Config)) *config.Config {
		c := config.Default()
		f(c)
		return c
	}
	plain := config.Default()
	scanImage := withCfg(func(c *config.Config) { c.Scan.Image = "app.tar" })
	sbomImage := withCfg(func(c *config.Config) { c.SBOM.Image = "registry.example/app:1" })
	onlyLint := withCfg(func(c *config.Config) { c.Stages = []string{"lint"} })
	tests := []struct {
		name     string
		stage    string
		cfg      *config.Config
		hasImage bool
		want     string // substring of the reason; "" means the stage runs
	}{
		{"lint always runs", "lint", plain, false, ""},
		{"scan without image", "scan", plain, false, "no image"},
		{"sbom without image", "sbom", plain, false, "no image"},
		{"scan with argument", "scan", plain, true, ""},
		{"sbom with argument", "sbom", plain, true, ""},
		// A configured image must not be skipped: the gate would pass unchecked.
		{"scan with scan.image", "scan", scanImage, false, ""},
		{"sbom with scan.image", "sbom", scanImage, false, ""},
		{"sbom with sbom.image", "sbom", sbomImage, false, ""},
		{"scan ignores sbom.image", "scan", sbomImage, false, "no image"},
		{"stage not listed", "validate", onlyLint, false, "not in tollgate.yaml stages"},
		{"listed stage runs", "lint", onlyLint, false, ""},
		{"unlisted scan with image", "scan", onlyLint, true, "not in tollgate.yaml stages"},
	}
	for _, tc := range tests {
		got := pipelineSkip(tc.stage, tc.cfg, tc.hasImage)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: pipelineSkip(%s) = %q, want %q", tc.name, tc.stage, got, tc.want)
		}
	}
}

func TestInsideSource(t *testing.T) {
	for _, p := range []string{"k8s", "./k8s", "a/../b", "deploy/app.yaml", "."} {
		if err := insideSource([]string{p}); err != nil {
			t.Errorf("insideSource(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"..", "../x", "a/../../x", "/etc/schemas"} {
		err := insideSource([]string{"k8s", p})
		var ie *model.InputError
		if !errors.As(err, &ie) || ie.File != p {
			t.Errorf("insideSource(%q) = %v, want InputError for it", p, err)
		}
	}
}
