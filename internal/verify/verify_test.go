package verify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// In a run, verification without a trusted signer is skipped; asked for on the command line it
// is bad input. A verify.require that does not parse is bad input naming the line, before any
// registry is contacted.
func TestVerifyConfiguration(t *testing.T) {
	t.Setenv(cosign.EnvPublicKey, "")
	run := func(cfg *config.Config, args ...string) (*model.StageResult, error) {
		return Stage().Run(context.Background(), &stage.Env{Root: t.TempDir(), Config: cfg, Args: args})
	}
	if r, err := run(config.Default()); err != nil || r.Status != model.StatusSkipped || !strings.Contains(r.Error, "no image to verify") {
		t.Errorf("nothing to verify: %+v %v", r, err)
	}
	cfg := config.Default()
	cfg.Verify.Image = "reg.example/app:1"
	if r, err := run(cfg); err != nil || r.Status != model.StatusSkipped || !strings.Contains(r.Error, "verification not configured") {
		t.Errorf("no signer in a run: %+v %v", r, err)
	}
	var ie *model.InputError
	if _, err := run(config.Default(), "reg.example/app:1"); !errors.As(err, &ie) || !strings.Contains(err.Error(), "no trusted signer") {
		t.Errorf("tollgate verify IMAGE without a key: %v", err)
	}
	bad, err := config.Parse("tollgate.yaml", []byte("version: 1\nverify:\n  certificate-identity: me@example.com\n  certificate-oidc-issuer: https://issuer\n  require:\n    - type: vuln\n      max-age: forever\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(bad, "reg.example/app:1"); !errors.As(err, &ie) || ie.Line != 6 || !strings.Contains(err.Error(), "max-age") {
		t.Errorf("bad requirement: %v", err)
	}
}
