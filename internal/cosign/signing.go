package cosign

import (
	"fmt"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Signing is everything the sign and attest stages need from tollgate.yaml and the environment.
type Signing struct {
	Material *SigningMaterial
	Signer   Signer
	Common   Common
	Registry RegistryOptions
	Secrets  Secrets
	// Timeout bounds each cosign process and the stage's registry lookups.
	Timeout time.Duration
	lookup  func(string) (string, bool)
}

// SigningFrom reads the sign section and the environment: the key (checked against its
// password), keyless settings, transparency log, registry credentials and timeout. A bad key,
// password file or timeout is a *model.InputError. Signing not configured at all is not an error:
// Material.Configured() says so.
func SigningFrom(c *config.Config, root string, lookup func(string) (string, bool)) (*Signing, error) {
	m, err := LoadSigningMaterial(c, root, lookup)
	if err != nil {
		return nil, err
	}
	s := &Signing{Material: m, lookup: lookup, Timeout: 5 * time.Minute}
	if c.Sign.Timeout != "" {
		d, err := time.ParseDuration(c.Sign.Timeout)
		if err != nil || d <= 0 {
			return nil, &model.InputError{File: c.Path, Err: fmt.Errorf("sign.timeout: %q is not a positive Go duration (e.g. 5m)", c.Sign.Timeout)}
		}
		s.Timeout = d
	}
	s.Signer = Signer{TlogUpload: c.Sign.TlogOn(), FulcioURL: c.Sign.FulcioURL, RekorURL: c.Sign.RekorURL, OIDCIssuer: c.Sign.OIDCIssuer}
	if m.Key != nil {
		s.Signer.Key = m.Key.CosignArg()
		s.Secrets.Password = m.Password.Value
		if m.Key.File == "" {
			s.Secrets.KeyPEM = string(m.Key.PEM)
		}
	}
	creds := credsFrom(lookup)
	s.Secrets.RegistryUser, s.Secrets.RegistryPassword = creds.Username, creds.Password
	s.Registry = RegistryOptions{Creds: creds, AllowHTTP: c.Sign.AllowHTTPRegistry, Timeout: min(s.Timeout, DefaultRegistryTimeout)}
	s.Common = Common{AllowHTTP: c.Sign.AllowHTTPRegistry, Timeout: s.Timeout}
	return s, nil
}

// Exec is the cosign executor for binary with the signing secrets in its environment (and the
// CI's OIDC token variables when keyless).
func (s *Signing) Exec(binary, dir string) Exec {
	var lookup func(string) (string, bool)
	if s.Material.Keyless {
		lookup = s.lookup
	}
	return Exec{Binary: binary, Env: Env(s.Secrets, s.Material.Key != nil, lookup), Timeout: s.Timeout, Dir: dir}
}

// Request is a sign or attest request for the subject.
func (s *Signing) Request(binary, dir string, subj *Subject) SignRequest {
	r := SignRequest{Exec: s.Exec(binary, dir), Subject: subj, Signer: s.Signer, Common: s.Common, KeySource: "keyless signing"}
	if s.Material.Key != nil {
		r.KeySource, r.PasswordSource = s.Material.Key.Source, s.Material.Password.Source
	}
	return r
}

// Notices are the findings about how signing was configured: no transparency log.
func (s *Signing) Notices(subj *Subject, what string) []model.Finding {
	if s.Signer.TlogUpload {
		return nil
	}
	f := finding(RuleTlogSkipped, subj, fmt.Sprintf("the %s of %s %s not recorded in a transparency log (sign.tlog-upload: false)", what, subj.Ref(), isAre(what)), nil)
	return []model.Finding{*f}
}

func isAre(what string) string {
	if len(what) > 0 && what[len(what)-1] == 's' {
		return "were"
	}
	return "was"
}
