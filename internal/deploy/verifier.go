package deploy

import (
	"context"
	"errors"
	"os"

	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// errNoTrust is returned when deploy must verify images but nothing says whom to trust: deploying
// anyway would make the check a silent pass, so it is a configuration error (exit 2).
var errNoTrust = errors.New("deploy verifies every image before applying (deploy.verify, default true), but no trusted key or " +
	"keyless identity is configured: set verify.key (or TOLLGATE_COSIGN_PUBLIC_KEY), or verify.certificate-identity and " +
	"verify.certificate-oidc-issuer, in tollgate.yaml; or set deploy.verify: false (reported as a finding)")

// cosignVerifier is the verifier deploy uses by default: the verify stage's library under the
// same tollgate.yaml verify section, so `tollgate deploy` refuses exactly what `tollgate verify`
// fails. Keys are only loaded once there are images to verify: a deploy of ConfigMaps alone
// needs no trust configuration.
func cosignVerifier(_ context.Context, env *stage.Env) (ImageVerifier, error) {
	return &cosignImages{env: env}, nil
}

type cosignImages struct{ env *stage.Env }

// VerifyImages verifies with cosign and adds the verifier's standing notices (e.g. transparency
// log not checked), so a deploy report states them as loudly as verify does.
func (c *cosignImages) VerifyImages(ctx context.Context, refs []string) ([]model.Finding, error) {
	env := c.env
	if !cosign.Configured(env.Config, os.LookupEnv) {
		return nil, &model.InputError{File: env.Config.Path, Err: errNoTrust}
	}
	v, err := cosign.NewVerifier(ctx, env.Config, env.Root, env.Tools, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	f, err := v.VerifyImages(ctx, refs)
	if err != nil {
		return nil, err
	}
	return append(f, v.Notices()...), nil
}
