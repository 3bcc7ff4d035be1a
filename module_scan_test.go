//go:build daggerunit

package main

import (
	"errors"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/scan"
)

func TestScanOverrides(t *testing.T) {
	cfg := config.Default()
	if err := scanOverrides(cfg, scanInputs{dbRepository: "mirror.example/trivy-db", ignoreUnfixed: true, severities: []string{"critical", "HIGH"}}); err != nil {
		t.Fatal(err)
	}
	if cfg.Scan.DB.Repository != "mirror.example/trivy-db" || !cfg.Scan.IgnoreUnfixed ||
		len(cfg.Scan.Severities) != 2 || cfg.Scan.Severities[0] != model.SeverityCritical {
		t.Fatalf("overrides not applied: %+v", cfg.Scan)
	}
	err := scanOverrides(config.Default(), scanInputs{severities: []string{"SEVERE"}})
	var ie *model.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("bad severity: err = %v, want InputError", err)
	}
}

func TestScanArgsInContainerPaths(t *testing.T) {
	opts, err := scan.OptionsFrom(config.Default(), "")
	if err != nil {
		t.Fatal(err)
	}
	opts.CacheDir = scanCacheDir
	args := scan.ImageArgs(opts, []string{"--input", imageMountDir}, scanOutDir+"/trivy.json")
	for _, a := range args {
		if a == "TRIVY_PASSWORD" || a == "--password" {
			t.Fatalf("credentials in args: %v", args)
		}
	}
	if args[len(args)-1] != imageMountDir {
		t.Fatalf("args %v", args)
	}
}
