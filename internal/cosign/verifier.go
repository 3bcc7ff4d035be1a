package cosign

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Verifier checks images against a trusted signer and an attestation policy with the pinned
// cosign. The verify stage uses it, and so does deploy, before it applies anything.
type Verifier struct {
	// Cosign is the cosign binary.
	Cosign string
	// Trust is the trusted signer. With a key from the environment, PublicKeyPEM holds it and
	// Trust.Key is left empty: VerifyImages writes it to a private file for cosign.
	Trust        Trust
	PublicKeyPEM []byte
	// KeySource names the public key (or identity) in messages.
	KeySource string
	Policy    Policy
	Registry  RegistryOptions
	// Common carries plain-HTTP permission and cosign's own timeout.
	Common Common
	// Timeout bounds each cosign process (default 5 minutes).
	Timeout time.Duration
	// Now is the clock for attestation ages.
	Now func() time.Time
	// TempDir is where private files (trusted root, key) go ("" is the system temp dir).
	TempDir string
	// Runner, when set, runs cosign somewhere else (the Dagger module's cosign container); Trust
	// must then name files as that runner sees them. Nil runs Cosign as a local process.
	Runner Runner
}

// Runner runs one cosign invocation (a local process, a container) and returns what it left.
// A crash, a timeout or an engine failure is an error; a non-zero exit is not.
type Runner interface {
	RunCosign(ctx context.Context, args []string) (*tools.Result, error)
}

// RunCosign makes Exec a Runner.
func (e Exec) RunCosign(ctx context.Context, args []string) (*tools.Result, error) {
	return e.Run(ctx, args)
}

// SigningConfigured reports whether tollgate.yaml or the environment names a signing key or
// keyless signing.
func SigningConfigured(c *config.Config, lookup func(string) (string, bool)) bool {
	if c.Sign.Key != "" || c.Sign.Keyless {
		return true
	}
	s, ok := lookup(EnvKey)
	return ok && strings.TrimSpace(s) != ""
}

// Configured reports whether verification has something to trust: a public key (verify.key or
// $TOLLGATE_COSIGN_PUBLIC_KEY) or a keyless identity.
func Configured(c *config.Config, lookup func(string) (string, bool)) bool {
	v := c.Verify
	if v.Key != "" || v.CertificateIdentity != "" || v.CertificateIdentityRegexp != "" || v.CertificateOIDCIssuer != "" || v.CertificateOIDCIssuerRegexp != "" {
		return true
	}
	s, ok := lookup(EnvPublicKey)
	return ok && strings.TrimSpace(s) != ""
}

// NewVerifier builds a verifier from tollgate.yaml's verify section (paths relative to root),
// the environment (lookup) and the tool installer. A missing or bad key, an incomplete identity
// or a bad policy is a *model.InputError; cosign missing is a *model.ToolError.
func NewVerifier(ctx context.Context, c *config.Config, root string, inst *tools.Installer, lookup func(string) (string, bool)) (*Verifier, error) {
	v := &Verifier{Now: time.Now, Registry: RegistryOptions{Creds: credsFrom(lookup), AllowHTTP: c.Verify.AllowHTTPRegistry}}
	pub, err := LoadPublicKey(c, root, lookup)
	if err != nil {
		return nil, err
	}
	v.Trust = Trust{
		Identity: c.Verify.CertificateIdentity, IdentityRegexp: c.Verify.CertificateIdentityRegexp,
		Issuer: c.Verify.CertificateOIDCIssuer, IssuerRegexp: c.Verify.CertificateOIDCIssuerRegexp,
		IgnoreTlog: !c.Verify.TlogOn(), RekorURL: c.Verify.RekorURL,
	}
	v.KeySource = "the keyless identity in " + configName(c)
	if pub != nil {
		v.KeySource = pub.Source
		if pub.File != "" {
			v.Trust.Key = pub.File
		} else {
			v.PublicKeyPEM = pub.PEM
		}
	}
	check := v.Trust
	if v.PublicKeyPEM != nil {
		check.Key = "env"
	}
	if err := check.Check(); err != nil {
		return nil, &model.InputError{File: c.Path, Err: err}
	}
	if v.Policy, err = PolicyFrom(c); err != nil {
		return nil, err
	}
	if c.Verify.Timeout != "" {
		d, err := time.ParseDuration(c.Verify.Timeout)
		if err != nil || d <= 0 {
			return nil, &model.InputError{File: c.Path, Err: fmt.Errorf("verify.timeout: %q is not a positive Go duration (e.g. 5m)", c.Verify.Timeout)}
		}
		v.Timeout = d
		v.Registry.Timeout = min(d, DefaultRegistryTimeout)
		v.Common.Timeout = d
	}
	v.Common.AllowHTTP = c.Verify.AllowHTTPRegistry
	if inst == nil {
		return nil, &model.ToolError{Tool: ToolName, Err: errors.New("no tool installer configured")}
	}
	if v.Cosign, err = inst.Ensure(ctx, ToolName); err != nil {
		return nil, &model.ToolError{Tool: ToolName, Err: err}
	}
	return v, nil
}

func configName(c *config.Config) string {
	if c.Path != "" {
		return c.Path
	}
	return "the configuration"
}

// credsFrom reads Tollgate's registry credential variables.
func credsFrom(lookup func(string) (string, bool)) image.Credentials {
	u, _ := lookup(image.EnvRegistryUsername)
	p, _ := lookup(image.EnvRegistryPassword)
	return image.Credentials{Username: u, Password: p}
}

// Notices are findings about how verification was configured rather than about an image: a
// skipped transparency log check. They do not fail a gate at the default threshold.
func (v *Verifier) Notices() []model.Finding {
	if !v.Trust.IgnoreTlog {
		return nil
	}
	r := ruleByID(RuleTlogIgnored)
	return []model.Finding{{RuleID: r.ID, Severity: r.Severity, Title: ruleTitles[r.ID], URL: r.URL, Fix: r.Fix,
		Message: "signatures and attestations were accepted without a transparency log entry (verify.tlog: false / --insecure-ignore-tlog)"}}
}

// VerifyImages verifies each image: a tag is resolved to its digest first; the digest, and for a
// multi-platform index every manifest in it, must carry a signature that verifies against the
// trusted signer; the digest must carry every attestation the policy requires, recent enough,
// and a vuln attestation without blocking findings. It returns one finding per failed
// requirement per image (CRITICAL: they fail any gate). The error is only for tool or
// infrastructure problems (*model.ToolError) or bad keys or policy (*model.InputError).
func (v *Verifier) VerifyImages(ctx context.Context, refs []string) ([]model.Finding, error) {
	if len(refs) == 0 {
		return nil, &model.InputError{Err: errors.New("verify: no image to verify")}
	}
	trust := v.Trust
	run := v.Runner
	if run == nil {
		if v.Cosign == "" {
			return nil, &model.ToolError{Tool: ToolName, Err: errors.New("verify: no cosign binary")}
		}
		tmp, err := os.MkdirTemp(v.TempDir, "tollgate-verify-*")
		if err != nil {
			return nil, &model.ToolError{Tool: ToolName, Err: err}
		}
		defer os.RemoveAll(tmp)
		if v.PublicKeyPEM != nil {
			trust.Key = filepath.Join(tmp, "trusted.pub")
			if err := os.WriteFile(trust.Key, v.PublicKeyPEM, 0o600); err != nil {
				return nil, &model.ToolError{Tool: ToolName, Err: err}
			}
		}
		if trust.Key != "" && trust.IgnoreTlog && trust.TrustedRoot == "" {
			trust.TrustedRoot = filepath.Join(tmp, "trusted_root.json")
			if err := os.WriteFile(trust.TrustedRoot, []byte(EmptyTrustedRoot), 0o600); err != nil {
				return nil, &model.ToolError{Tool: ToolName, Err: err}
			}
		}
		sec := Secrets{RegistryUser: v.Registry.Creds.Username, RegistryPassword: v.Registry.Creds.Password}
		run = Exec{Binary: v.Cosign, Env: Env(sec, false, nil), Timeout: v.Timeout, Dir: tmp}
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	var out []model.Finding
	for _, ref := range refs {
		fs, err := v.verifyOne(ctx, run, trust, ref, now)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

func (v *Verifier) verifyOne(ctx context.Context, run Runner, trust Trust, ref string, now func() time.Time) ([]model.Finding, error) {
	subj, err := Resolve(ctx, ref, v.Registry)
	if IsNotFound(err) {
		s := &Subject{Input: ref, Repo: strings.SplitN(ref, "@", 2)[0]}
		f := finding(RuleImageMissing, s, fmt.Sprintf("%s does not exist in its registry: nothing to verify", ref), nil)
		f.Location.Resource = ref
		return []model.Finding{*f}, nil
	}
	if err != nil {
		return nil, err
	}
	var out []model.Finding
	for i, r := range subj.Refs() {
		args, err := VerifyArgs(trust, v.Common, r)
		if err != nil {
			return nil, &model.InputError{Err: err}
		}
		res, err := run.RunCosign(ctx, args)
		if err != nil {
			return nil, err
		}
		outcome, err := VerifyOutcome(res.ExitCode, res.Stderr, v.KeySource)
		if err != nil {
			return nil, err
		}
		if outcome == Verified {
			digest := strings.SplitN(r, "@", 2)[1]
			if _, err := ParseSignatures(res.Stdout, digest); err != nil {
				return nil, &model.ToolError{Tool: ToolName, Err: err}
			}
			continue
		}
		what := subj.Describe()
		if i > 0 {
			m := subj.Manifests[i-1]
			what = fmt.Sprintf("manifest %s (%s) of the index %s", m.Digest, platformName(m.Platform), subj.Describe())
		}
		rule, msg := RuleUnsigned, what+" has no signature"
		if outcome == Untrusted {
			rule, msg = RuleUntrusted, fmt.Sprintf("%s is signed, but no signature verifies against %s", what, v.KeySource)
		}
		f := finding(rule, subj, msg, nil)
		f.Location.Resource = r
		out = append(out, *f)
	}
	if len(v.Policy.Requirements) == 0 {
		return out, nil
	}
	statements := map[string][]Statement{}
	for _, t := range v.Policy.Types() {
		args, err := VerifyAttestationArgs(trust, v.Common, t.Name, subj.Ref())
		if err != nil {
			return nil, &model.InputError{Err: err}
		}
		res, err := run.RunCosign(ctx, args)
		if err != nil {
			return nil, err
		}
		outcome, err := AttestationOutcome(res.ExitCode, res.Stderr, v.KeySource)
		if err != nil {
			return nil, err
		}
		if outcome != Verified {
			continue
		}
		sts, err := ParseAttestations(res.Stdout)
		if err != nil {
			return nil, &model.ToolError{Tool: ToolName, Err: err}
		}
		for _, st := range sts {
			if st.PredicateType == t.URI {
				statements[t.Name] = append(statements[t.Name], st)
			}
		}
	}
	for _, req := range v.Policy.Requirements {
		if f := req.Evaluate(subj, statements, now()); f != nil {
			out = append(out, *f)
		}
	}
	return out, nil
}

func platformName(p string) string {
	if p == "" {
		return "no platform"
	}
	return p
}

func ruleByID(id string) model.Rule {
	for _, r := range Rules() {
		if r.ID == id {
			return r
		}
	}
	panic("unknown rule " + id)
}
