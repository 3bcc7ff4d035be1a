//go:build daggerunit

package main

import (
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/deploy"
)

func TestDeployArgs(t *testing.T) {
	cfg, err := config.Parse("tollgate.yaml", []byte("version: 1\ndeploy:\n  dry-run: true\n  context: staging\n  timeout: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Unset arguments leave the file alone.
	deployArgs(cfg, "", "", false, false, "", true, "")
	if d := cfg.Deploy; !d.DryRun || d.Context != "staging" || d.Timeout != "2m" || !*d.Verify || d.Prune {
		t.Fatalf("unset arguments changed the config: %+v", d)
	}
	deployArgs(cfg, "prod", "shop", false, true, "r.example.com/a@sha256:0123456789012345678901234567890123456789012345678901234567890123", false, "30s")
	d := cfg.Deploy
	if d.Context != "prod" || d.Namespace != "shop" || !d.Prune || *d.Verify || d.Timeout != "30s" || d.ImageRef == "" {
		t.Fatalf("arguments not applied: %+v", d)
	}
	o, err := deploy.OptionsFrom(cfg, "")
	if err != nil || o.Pin == nil || o.Verify || o.Timeout.String() != "30s" {
		t.Fatalf("options %+v, %v", o, err)
	}
}
