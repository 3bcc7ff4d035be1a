package cosign

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testRef    = "registry.example.com/team/app@" + testDigest
)

// Keyless signing cannot run offline (Fulcio, Rekor and an OIDC token), so its exact command
// lines are what is tested; the key-based ones also run for real in the registry tests.
func TestCommandLines(t *testing.T) {
	keyless := Signer{TlogUpload: true}
	tests := []struct {
		name string
		got  func() ([]string, error)
		want string
	}{
		{"sign with key file, tlog on",
			func() ([]string, error) {
				return SignArgs(Signer{Key: "/keys/cosign.key", TlogUpload: true}, Common{}, false, testRef)
			},
			"sign --yes --key /keys/cosign.key " + testRef},
		{"sign with key from env, no tlog, loopback HTTP, timeout",
			func() ([]string, error) {
				return SignArgs(Signer{Key: "env://TOLLGATE_COSIGN_KEY"}, Common{AllowHTTP: true, Timeout: 90 * time.Second}, false, testRef)
			},
			"sign --yes --key env://TOLLGATE_COSIGN_KEY --tlog-upload=false --allow-http-registry --timeout 1m30s " + testRef},
		{"sign an index recursively",
			func() ([]string, error) { return SignArgs(Signer{Key: "k.key"}, Common{}, true, testRef) },
			"sign --yes --key k.key --tlog-upload=false --recursive " + testRef},
		{"keyless sign (GitHub Actions or GitLab: token from the environment)",
			func() ([]string, error) { return SignArgs(keyless, Common{}, false, testRef) },
			"sign --yes " + testRef},
		{"keyless sign against a private Sigstore",
			func() ([]string, error) {
				return SignArgs(Signer{TlogUpload: true, FulcioURL: "https://fulcio.internal", RekorURL: "https://rekor.internal", OIDCIssuer: "https://gitlab.internal"}, Common{}, true, testRef)
			},
			"sign --yes --fulcio-url https://fulcio.internal --oidc-issuer https://gitlab.internal --rekor-url https://rekor.internal --recursive " + testRef},
		{"keyless attest",
			func() ([]string, error) {
				return AttestArgs(keyless, Common{}, "slsaprovenance1", "/tmp/p.json", testRef)
			},
			"attest --yes --replace --type slsaprovenance1 --predicate /tmp/p.json " + testRef},
		{"attest with key, no tlog",
			func() ([]string, error) {
				return AttestArgs(Signer{Key: "k.key"}, Common{}, "vuln", "/tmp/v.json", testRef)
			},
			"attest --yes --replace --key k.key --tlog-upload=false --type vuln --predicate /tmp/v.json " + testRef},
		{"verify with key and tlog",
			func() ([]string, error) { return VerifyArgs(Trust{Key: "cosign.pub"}, Common{}, testRef) },
			"verify --key cosign.pub --output json " + testRef},
		{"verify with key, offline: no tlog, empty trusted root",
			func() ([]string, error) {
				return VerifyArgs(Trust{Key: "cosign.pub", IgnoreTlog: true, TrustedRoot: "/tmp/root.json"}, Common{AllowHTTP: true}, testRef)
			},
			"verify --key cosign.pub --insecure-ignore-tlog=true --trusted-root /tmp/root.json --output json --allow-http-registry " + testRef},
		{"verify keyless GitHub Actions identity",
			func() ([]string, error) {
				return VerifyArgs(Trust{Identity: "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main", Issuer: "https://token.actions.githubusercontent.com"}, Common{}, testRef)
			},
			"verify --certificate-identity https://github.com/org/app/.github/workflows/release.yml@refs/heads/main --certificate-oidc-issuer https://token.actions.githubusercontent.com --output json " + testRef},
		{"verify keyless GitLab identity by regexp",
			func() ([]string, error) {
				return VerifyArgs(Trust{IdentityRegexp: "^https://gitlab.com/org/app//", IssuerRegexp: "^https://gitlab.com$"}, Common{}, testRef)
			},
			"verify --certificate-identity-regexp ^https://gitlab.com/org/app// --certificate-oidc-issuer-regexp ^https://gitlab.com$ --output json " + testRef},
		{"verify-attestation",
			func() ([]string, error) {
				return VerifyAttestationArgs(Trust{Key: "c.pub", IgnoreTlog: true}, Common{}, "cyclonedx", testRef)
			},
			"verify-attestation --key c.pub --insecure-ignore-tlog=true --type cyclonedx --output json " + testRef},
		{"generate-key-pair", func() ([]string, error) { return GenerateKeyPairArgs("release") }, "generate-key-pair --output-key-prefix release"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := tt.got()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(args, " "); got != tt.want {
				t.Errorf("\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestOnlyDigestsReachCosign(t *testing.T) {
	for _, ref := range []string{"registry.example.com/app:1.2", "registry.example.com/app", "--key=x", "app@sha256:short", testRef + " extra"} {
		if _, err := SignArgs(Signer{Key: "k"}, Common{}, false, ref); err == nil {
			t.Errorf("SignArgs accepted %q", ref)
		}
		if _, err := VerifyArgs(Trust{Key: "k"}, Common{}, ref); err == nil {
			t.Errorf("VerifyArgs accepted %q", ref)
		}
	}
	if _, err := AttestArgs(Signer{Key: "k"}, Common{}, "made-up", "/p.json", testRef); err == nil {
		t.Error("AttestArgs accepted an unknown predicate type")
	}
	if _, err := AttestArgs(Signer{Key: "k"}, Common{}, "vuln", "--evil", testRef); err == nil {
		t.Error("AttestArgs accepted a predicate path that reads as a flag")
	}
	if _, err := GenerateKeyPairArgs("../x"); err == nil {
		t.Error("GenerateKeyPairArgs accepted a path as prefix")
	}
}

// Secrets reach cosign in its environment only: the password always (so cosign never reads a
// terminal or stdin), a key held in the environment, registry credentials, and for keyless the
// CI's OIDC token variables. --identity-token and --registry-password are never used.
func TestEnvCarriesSecretsArgsNever(t *testing.T) {
	ci := map[string]string{"SIGSTORE_ID_TOKEN": "eyJ-gitlab", "ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "gh-req", "UNRELATED_SECRET": "x"}
	lookup := func(k string) (string, bool) { v, ok := ci[k]; return v, ok }
	env := Env(Secrets{Password: "", KeyPEM: "-----BEGIN-----", RegistryUser: "bot", RegistryPassword: "rpw"}, true, lookup)
	want := []string{"COSIGN_PASSWORD=", "TOLLGATE_COSIGN_KEY=-----BEGIN-----", "COSIGN_REGISTRY_USERNAME=bot", "COSIGN_REGISTRY_PASSWORD=rpw",
		"SIGSTORE_ID_TOKEN=eyJ-gitlab", "ACTIONS_ID_TOKEN_REQUEST_URL=https://gh/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=gh-req"}
	if !slices.Equal(env, want) {
		t.Errorf("env\n got %q\nwant %q", env, want)
	}
	if env := Env(Secrets{}, false, nil); len(env) != 0 {
		t.Errorf("keyless without CI: env %q, want none", env)
	}
	for _, args := range [][]string{
		must(SignArgs(Signer{Key: "env://" + KeyVar}, Common{}, true, testRef)),
		must(AttestArgs(Signer{TlogUpload: true}, Common{}, "vuln", "/p", testRef)),
		must(VerifyArgs(Trust{Key: "k.pub"}, Common{}, testRef)),
	} {
		for _, a := range args {
			if strings.Contains(a, "identity-token") || strings.Contains(a, "registry-password") || strings.Contains(a, "BEGIN") {
				t.Errorf("secret-carrying argument %q in %q", a, args)
			}
		}
	}
}

func must(a []string, err error) []string {
	if err != nil {
		panic(err)
	}
	return a
}

func TestTrustCheck(t *testing.T) {
	tests := []struct {
		trust Trust
		ok    bool
		want  string
	}{
		{Trust{Key: "k.pub"}, true, ""},
		{Trust{Identity: "a@b", Issuer: "https://i"}, true, ""},
		{Trust{IdentityRegexp: "^a", IssuerRegexp: "^https://"}, true, ""},
		{Trust{}, false, "no trusted signer"},
		{Trust{Key: "k.pub", Identity: "a"}, false, "not both"},
		{Trust{Identity: "a"}, false, "certificate-oidc-issuer"},
		{Trust{Issuer: "https://i"}, false, "certificate-identity"},
		{Trust{Identity: "a", IdentityRegexp: "b", Issuer: "i"}, false, "exactly one of certificate-identity"},
		{Trust{IdentityRegexp: "(", Issuer: "i"}, false, "regular expression"},
	}
	for _, tt := range tests {
		err := tt.trust.Check()
		if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: err %v, want ok=%v containing %q", tt.trust, err, tt.ok, tt.want)
		}
	}
}

func TestLoopbackOnlyForPlainHTTP(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true, "reg.localhost": true, "127.1.2.3": true,
		"10.199.0.1:5000": false, "registry.example.com": false, "192.168.1.1": false, "localhost.evil.com": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
	if !IsLoopbackOrPrivate("10.199.0.1:5000") || IsLoopbackOrPrivate("8.8.8.8:443") {
		t.Error("IsLoopbackOrPrivate misjudges the lab bridge or a public address")
	}
	if err := (RegistryOptions{AllowHTTP: true}).CheckHTTP("registry.example.com"); err == nil {
		t.Error("allow-http-registry accepted for a remote registry")
	}
}

func TestStripCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"https://gitlab-ci-token:glcbt-secret@gitlab.com/org/app.git": "https://gitlab.com/org/app.git",
		"https://x-access-token:ghs_abc@github.com/org/app":           "https://github.com/org/app",
		"git@github.com:org/app.git":                                  "git@github.com:org/app.git",
		"https://github.com/org/app":                                  "https://github.com/org/app",
	} {
		if got := StripCredentials(in); got != want {
			t.Errorf("StripCredentials(%q) = %q, want %q", in, got, want)
		}
	}
}
