package cosign

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Signer says how cosign signs: with a private key, or keylessly (Fulcio certificate for the
// CI's OIDC identity). Both runners fill it; only the key's location differs.
type Signer struct {
	// Key is cosign's --key value: a file path, or env://VAR for a key held in the environment.
	// Empty means keyless.
	Key string
	// TlogUpload records the signature in the Rekor transparency log.
	TlogUpload bool
	// FulcioURL, RekorURL and OIDCIssuer override the public Sigstore instances ("" keeps cosign's).
	FulcioURL  string
	RekorURL   string
	OIDCIssuer string
}

// Keyless reports whether the signer has no key.
func (s Signer) Keyless() bool { return s.Key == "" }

// Common are the options of every cosign call that talks to a registry.
type Common struct {
	// AllowHTTP lets cosign use plain HTTP to the registry (Tollgate has checked it is allowed).
	AllowHTTP bool
	// Timeout is cosign's own --timeout (0 keeps cosign's 3 minutes); the runner bounds the
	// process as well.
	Timeout time.Duration
}

func (c Common) args() []string {
	var a []string
	if c.AllowHTTP {
		a = append(a, "--allow-http-registry")
	}
	if c.Timeout > 0 {
		a = append(a, "--timeout", c.Timeout.String())
	}
	return a
}

func (s Signer) args() []string {
	var a []string
	if s.Key != "" {
		a = append(a, "--key", s.Key)
	} else {
		if s.FulcioURL != "" {
			a = append(a, "--fulcio-url", s.FulcioURL)
		}
		if s.OIDCIssuer != "" {
			a = append(a, "--oidc-issuer", s.OIDCIssuer)
		}
	}
	if !s.TlogUpload {
		a = append(a, "--tlog-upload=false")
	} else if s.RekorURL != "" {
		a = append(a, "--rekor-url", s.RekorURL)
	}
	return a
}

var digestRef = regexp.MustCompile(`^[^@\s]+@sha256:[a-f0-9]{64}$`)

// checkDigestRef enforces "by digest only": cosign is never handed a tag, which could move
// between the lookup and the signature.
func checkDigestRef(ref string) error {
	if !digestRef.MatchString(ref) {
		return fmt.Errorf("cosign is only given references pinned by digest (repo@sha256:...), not %q", ref)
	}
	return nil
}

// SignArgs are the arguments of `cosign sign` for ref (pinned by digest). recursive signs every
// manifest of an index along with the index.
func SignArgs(s Signer, c Common, recursive bool, ref string) ([]string, error) {
	if err := checkDigestRef(ref); err != nil {
		return nil, err
	}
	a := []string{"sign", "--yes"}
	a = append(a, s.args()...)
	if recursive {
		a = append(a, "--recursive")
	}
	a = append(a, c.args()...)
	return append(a, ref), nil
}

// AttestArgs are the arguments of `cosign attest`: predicateFile holds the predicate of type
// predicateType (a cosign type name). An earlier attestation of the same type is replaced, so
// the newest is the one verification reads.
func AttestArgs(s Signer, c Common, predicateType, predicateFile, ref string) ([]string, error) {
	if err := checkDigestRef(ref); err != nil {
		return nil, err
	}
	if _, ok := lookupType(predicateType); !ok {
		return nil, fmt.Errorf("unknown predicate type %q", predicateType)
	}
	if predicateFile == "" || strings.HasPrefix(predicateFile, "-") {
		return nil, fmt.Errorf("predicate file %q is not a usable path", predicateFile)
	}
	a := []string{"attest", "--yes", "--replace"}
	a = append(a, s.args()...)
	a = append(a, "--type", predicateType, "--predicate", predicateFile)
	a = append(a, c.args()...)
	return append(a, ref), nil
}

// Trust says what a signature must verify against: a public key, or a keyless identity.
type Trust struct {
	// Key is cosign's --key value for the public key: a file path or env://VAR.
	Key string
	// Keyless identity: exactly one of Identity / IdentityRegexp and one of Issuer / IssuerRegexp.
	Identity       string
	IdentityRegexp string
	Issuer         string
	IssuerRegexp   string
	// IgnoreTlog accepts signatures without a transparency log entry.
	IgnoreTlog bool
	// TrustedRoot is a Sigstore trusted root file. With a key and IgnoreTlog, Tollgate passes an
	// empty root (EmptyTrustedRoot): nothing but the key is trusted, and cosign needs no TUF
	// download, so verification runs offline.
	TrustedRoot string
	// RekorURL overrides the public Rekor instance.
	RekorURL string
}

// Check rejects an incomplete or ambiguous trust setting (a *model.InputError at the caller).
func (t Trust) Check() error {
	keyless := t.Identity != "" || t.IdentityRegexp != "" || t.Issuer != "" || t.IssuerRegexp != ""
	switch {
	case t.Key != "" && keyless:
		return errors.New("verify: give either a public key or a keyless identity, not both")
	case t.Key != "":
		return nil
	case !keyless:
		return errors.New("verify: no trusted signer: set verify.key (a cosign public key) or a keyless identity (verify.certificate-identity and verify.certificate-oidc-issuer)")
	case (t.Identity == "") == (t.IdentityRegexp == ""):
		return errors.New("verify: keyless verification needs exactly one of certificate-identity and certificate-identity-regexp")
	case (t.Issuer == "") == (t.IssuerRegexp == ""):
		return errors.New("verify: keyless verification needs exactly one of certificate-oidc-issuer and certificate-oidc-issuer-regexp")
	}
	for _, re := range []string{t.IdentityRegexp, t.IssuerRegexp} {
		if re == "" {
			continue
		}
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("verify: %q is not a valid regular expression: %v", re, err)
		}
	}
	return nil
}

func (t Trust) args() []string {
	var a []string
	if t.Key != "" {
		a = append(a, "--key", t.Key)
	} else {
		if t.Identity != "" {
			a = append(a, "--certificate-identity", t.Identity)
		} else {
			a = append(a, "--certificate-identity-regexp", t.IdentityRegexp)
		}
		if t.Issuer != "" {
			a = append(a, "--certificate-oidc-issuer", t.Issuer)
		} else {
			a = append(a, "--certificate-oidc-issuer-regexp", t.IssuerRegexp)
		}
	}
	if t.IgnoreTlog {
		a = append(a, "--insecure-ignore-tlog=true")
	} else if t.RekorURL != "" {
		a = append(a, "--rekor-url", t.RekorURL)
	}
	if t.TrustedRoot != "" {
		a = append(a, "--trusted-root", t.TrustedRoot)
	}
	return a
}

// VerifyArgs are the arguments of `cosign verify` for one pinned manifest or index.
func VerifyArgs(t Trust, c Common, ref string) ([]string, error) {
	if err := checkDigestRef(ref); err != nil {
		return nil, err
	}
	a := []string{"verify"}
	a = append(a, t.args()...)
	a = append(a, "--output", "json")
	a = append(a, c.args()...)
	return append(a, ref), nil
}

// VerifyAttestationArgs are the arguments of `cosign verify-attestation` for one predicate type.
func VerifyAttestationArgs(t Trust, c Common, predicateType, ref string) ([]string, error) {
	if err := checkDigestRef(ref); err != nil {
		return nil, err
	}
	if _, ok := lookupType(predicateType); !ok {
		return nil, fmt.Errorf("unknown predicate type %q", predicateType)
	}
	a := []string{"verify-attestation"}
	a = append(a, t.args()...)
	a = append(a, "--type", predicateType, "--output", "json")
	a = append(a, c.args()...)
	return append(a, ref), nil
}

// GenerateKeyPairArgs are the arguments of `cosign generate-key-pair`, writing PREFIX.key and
// PREFIX.pub in the working directory. The password comes from COSIGN_PASSWORD.
func GenerateKeyPairArgs(prefix string) ([]string, error) {
	if prefix == "" || strings.HasPrefix(prefix, "-") || strings.ContainsAny(prefix, "/\\") {
		return nil, fmt.Errorf("key prefix %q: want a plain file name prefix like cosign", prefix)
	}
	return []string{"generate-key-pair", "--output-key-prefix", prefix}, nil
}

// EmptyTrustedRoot is a Sigstore trusted root that trusts no CA, log or timestamp authority. With
// key-based verification and no transparency log it stops cosign from fetching the public-good
// root over TUF: the key alone is trusted, offline.
const EmptyTrustedRoot = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}` + "\n"

// Secrets are what cosign's environment carries that must never be an argument.
type Secrets struct {
	// Password unlocks the private key (may be empty: cosign accepts keys without one). Set
	// whenever a key is used, so cosign never waits for a terminal or reads stdin.
	Password string
	// KeyPEM is a private key held in the environment; it reaches cosign as KeyVar and the
	// signer's Key must then be "env://" + KeyVar.
	KeyPEM string
	// RegistryUser and RegistryPassword authenticate to the image's registry.
	RegistryUser     string
	RegistryPassword string
}

// Env is the environment of a cosign call. keyed says a private key is used (COSIGN_PASSWORD is
// set, even to ""); lookup reads the caller's environment for the CI's ambient OIDC variables,
// passed through for keyless signing (nil passes none).
func Env(sec Secrets, keyed bool, lookup func(string) (string, bool)) []string {
	var env []string
	if keyed {
		env = append(env, CosignPassword+"="+sec.Password)
	}
	if sec.KeyPEM != "" {
		env = append(env, KeyVar+"="+sec.KeyPEM)
	}
	if sec.RegistryUser != "" && sec.RegistryPassword != "" {
		env = append(env, RegistryUserVar+"="+sec.RegistryUser, RegistryPasswordVar+"="+sec.RegistryPassword)
	}
	if lookup != nil {
		for _, k := range ambientOIDC {
			if v, ok := lookup(k); ok {
				env = append(env, k+"="+v)
			}
		}
	}
	return env
}
