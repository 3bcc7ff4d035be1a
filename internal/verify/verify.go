// Package verify is the verify stage: it checks with the pinned cosign that an image's digest,
// and every platform manifest of an index, carries a signature from the trusted key or keyless
// identity, and that the attestations tollgate.yaml requires are present, recent and without
// blocking findings. Every failed requirement is a CRITICAL finding. The same check gates deploy
// (internal/cosign.Verifier).
package verify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Name is the stage name.
const Name = "verify"

// Stage is the native verify stage. Its images are the one pushed (or signed) in this run, else
// the IMAGE arguments, else verify.image or sign.image.
func Stage() stage.Stage {
	return stage.Stage{
		Name:       Name,
		Tool:       cosign.Tool(),
		Needs:      []string{"push", "sign", "attest"},
		AfterGates: true,
		OptIn:      func(c *config.Config, _ string) bool { return cosign.Configured(c, os.LookupEnv) },
		Usage:      "[IMAGE...]",
		Short:      "Verify images' signatures (every platform manifest) and required attestations with cosign",
		Flags:      flags,
		Run:        run,
	}
}

func run(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	cfg := env.Config
	refs, from := cosign.Targets(env, true, cfg.Verify.Image, cfg.Sign.Image)
	if len(refs) == 0 {
		return skipped("no image to verify: nothing was pushed or signed in this run; pass IMAGE or set verify.image in tollgate.yaml"), nil
	}
	if !cosign.Configured(cfg, os.LookupEnv) {
		if from == cosign.FromArgs {
			return nil, &model.InputError{File: cfg.Path, Err: errors.New("verify: no trusted signer: pass --public-key FILE (or set " + cosign.EnvPublicKey +
				" or verify.key), or a keyless identity (--certificate-identity and --certificate-oidc-issuer)")}
		}
		return skipped("verification not configured: set verify.key (or " + cosign.EnvPublicKey + ") or a keyless identity in tollgate.yaml"), nil
	}
	v, err := cosign.NewVerifier(ctx, cfg, env.Root, env.Tools, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if env.Now != nil {
		v.Now = env.Now
	}
	v.TempDir = env.WorkDir
	if env.Progress != nil {
		env.Progress(Name, fmt.Sprintf("verifying %s against %s", strings.Join(refs, ", "), v.KeySource))
	}
	findings, err := v.VerifyImages(ctx, refs)
	if err != nil {
		return nil, err
	}
	res := &model.StageResult{Stage: Name, Tool: cosign.Tool(), Rules: cosign.Rules(), Findings: append(findings, v.Notices()...)}
	if res.Findings == nil {
		res.Findings = []model.Finding{}
	}
	failed := 0
	for _, f := range findings {
		if f.Severity == model.SeverityCritical {
			failed++
		}
	}
	what := "signature on every manifest"
	if n := len(v.Policy.Requirements); n > 0 {
		var names []string
		for _, r := range v.Policy.Requirements {
			names = append(names, r.Name)
		}
		what += fmt.Sprintf(", %d required attestation(s) (%s)", n, strings.Join(names, ", "))
	}
	if failed == 0 {
		res.Summary = fmt.Sprintf("verified %d image(s): %s", len(refs), what)
	} else {
		res.Summary = fmt.Sprintf("%d failed requirement(s) in %d image(s) (%s)", failed, len(refs), what)
	}
	return res, nil
}

func skipped(why string) *model.StageResult {
	return &model.StageResult{Stage: Name, Status: model.StatusSkipped, Tool: cosign.Tool(), Findings: []model.Finding{}, Error: why}
}

// flags registers `tollgate verify` flags; only flags the user set override tollgate.yaml.
func flags(fs *pflag.FlagSet) func(c *config.Config) {
	key := fs.String("public-key", "", "trusted cosign public key file (or set "+cosign.EnvPublicKey+" to the PEM)")
	ident := fs.String("certificate-identity", "", "keyless: the signing certificate's identity (e.g. https://github.com/ORG/REPO/.github/workflows/release.yml@refs/heads/main)")
	identRe := fs.String("certificate-identity-regexp", "", "keyless: a regular expression the certificate identity must match")
	issuer := fs.String("certificate-oidc-issuer", "", "keyless: the OIDC issuer (e.g. https://token.actions.githubusercontent.com)")
	issuerRe := fs.String("certificate-oidc-issuer-regexp", "", "keyless: a regular expression the OIDC issuer must match")
	ignoreTlog := fs.Bool("insecure-ignore-tlog", false, "accept signatures without a transparency log entry (reported as a finding)")
	require := fs.StringArray("require", nil, "required attestation TYPE[:MAX-AGE] (repeatable): sbom, vuln, slsaprovenance1, spdxjson, cyclonedx; e.g. vuln:7d")
	allowHTTP := cosign.HTTPFlag(fs)
	return func(c *config.Config) {
		if fs.Changed("public-key") {
			c.Verify.Key = *key
		}
		if fs.Changed("certificate-identity") {
			c.Verify.CertificateIdentity = *ident
		}
		if fs.Changed("certificate-identity-regexp") {
			c.Verify.CertificateIdentityRegexp = *identRe
		}
		if fs.Changed("certificate-oidc-issuer") {
			c.Verify.CertificateOIDCIssuer = *issuer
		}
		if fs.Changed("certificate-oidc-issuer-regexp") {
			c.Verify.CertificateOIDCIssuerRegexp = *issuerRe
		}
		if fs.Changed("insecure-ignore-tlog") {
			on := !*ignoreTlog
			c.Verify.Tlog = &on
		}
		if fs.Changed("require") {
			c.Verify.Require = nil
			for _, r := range *require {
				typ, age, _ := strings.Cut(r, ":")
				c.Verify.Require = append(c.Verify.Require, config.Requirement{Type: typ, MaxAge: age})
			}
		}
		allowHTTP(c)
	}
}
