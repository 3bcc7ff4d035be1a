package config

import "github.com/tollgate-dev/tollgate/internal/model"

// Sign configures image signing with cosign (the sign and attest stages).
type Sign struct {
	// Image to sign when no image was pushed in this run and none is named on the command line:
	// a registry reference; a tag is resolved to its digest first.
	Image string `yaml:"image"`
	// Key is the cosign private key file. The key may instead come from the environment
	// (TOLLGATE_COSIGN_KEY holds the PEM); without a key, Keyless must be set.
	Key string `yaml:"key"`
	// PasswordFile holds the key's password; else TOLLGATE_COSIGN_PASSWORD or COSIGN_PASSWORD.
	PasswordFile string `yaml:"password-file"`
	// Keyless signs with a short-lived Fulcio certificate for the CI's OIDC identity and records
	// the signature in Rekor (needs the network and an OIDC token).
	Keyless bool `yaml:"keyless"`
	// TlogUpload records signatures and attestations in the Rekor transparency log (default
	// true). Turning it off is reported as a finding.
	TlogUpload *bool `yaml:"tlog-upload"`
	// FulcioURL and RekorURL override the public Sigstore instances.
	FulcioURL string `yaml:"fulcio-url"`
	RekorURL  string `yaml:"rekor-url"`
	// OIDCIssuer is the keyless OIDC issuer (default: cosign's, or the CI's ambient token).
	OIDCIssuer string `yaml:"oidc-issuer"`
	// AllowHTTPRegistry permits plain HTTP to loopback registries (127.0.0.1, ::1, localhost).
	AllowHTTPRegistry bool `yaml:"allow-http-registry"`
	// Timeout bounds the stage: registry lookups and every cosign run (Go duration, default 5m).
	Timeout string `yaml:"timeout"`
	// FailOn overrides the gate threshold for this stage.
	FailOn model.Severity `yaml:"fail-on"`
}

// TlogOn reports whether signatures go to the transparency log.
func (s *Sign) TlogOn() bool { return s.TlogUpload == nil || *s.TlogUpload }

func (s *Sign) defaults() {
	if s.Timeout == "" {
		s.Timeout = "5m"
	}
}

// Attest configures the in-toto attestations written next to the signature.
type Attest struct {
	// Predicates to attest: sbom, vuln, provenance (default all three). sbom and vuln need the
	// sbom and scan stages' output (or the files below); provenance is written by Tollgate.
	Predicates []string `yaml:"predicates"`
	// SBOM files to attest instead of this run's sbom stage output (SPDX or CycloneDX JSON).
	SBOM []string `yaml:"sbom"`
	// VulnReport is a trivy JSON report to attest instead of this run's scan stage output.
	VulnReport string `yaml:"vuln-report"`
	// BuilderID names the builder in the provenance (default: the CI run's URL, else Tollgate).
	BuilderID string `yaml:"builder-id"`
	// FailOn overrides the gate threshold for this stage.
	FailOn model.Severity `yaml:"fail-on"`
}

func (a *Attest) defaults() {
	if len(a.Predicates) == 0 {
		a.Predicates = []string{"sbom", "vuln", "provenance"}
	}
}

// Verify configures signature and attestation verification (the verify stage, and the check
// the deploy stage runs before it applies anything).
type Verify struct {
	// Image to verify when none was pushed or signed in this run and none is named.
	Image string `yaml:"image"`
	// Key is the trusted cosign public key (PEM file); TOLLGATE_COSIGN_PUBLIC_KEY may hold it instead.
	Key string `yaml:"key"`
	// Keyless identity: the signing certificate's subject (exact or regexp) and OIDC issuer
	// (exact or regexp). One subject and one issuer are required when no key is set.
	CertificateIdentity         string `yaml:"certificate-identity"`
	CertificateIdentityRegexp   string `yaml:"certificate-identity-regexp"`
	CertificateOIDCIssuer       string `yaml:"certificate-oidc-issuer"`
	CertificateOIDCIssuerRegexp string `yaml:"certificate-oidc-issuer-regexp"`
	// Tlog requires a transparency log entry for every signature (default true). Turning it
	// off is reported as a finding.
	Tlog *bool `yaml:"tlog"`
	// RekorURL overrides the public Rekor instance.
	RekorURL string `yaml:"rekor-url"`
	// Require lists the attestations an image must carry besides its signature.
	Require []Requirement `yaml:"require"`
	// AllowHTTPRegistry permits plain HTTP to loopback registries.
	AllowHTTPRegistry bool `yaml:"allow-http-registry"`
	// Timeout bounds the verification (Go duration, default 5m).
	Timeout string `yaml:"timeout"`
}

// TlogOn reports whether verification demands transparency log entries.
func (v *Verify) TlogOn() bool { return v.Tlog == nil || *v.Tlog }

// Requirement is one attestation an image must carry.
type Requirement struct {
	// Type is the predicate: slsaprovenance1 (or provenance), vuln, spdxjson (or spdx),
	// cyclonedx, sbom (SPDX or CycloneDX), or a predicate type URI.
	Type string `yaml:"type"`
	// MaxAge is how old the newest such attestation may be, by the time its predicate records
	// (Go duration or days, e.g. 7d); empty means any age.
	MaxAge string `yaml:"max-age"`
	// FailOn (vuln only) is the lowest severity that counts as blocking, unless the scan
	// recorded a live suppression for it (default HIGH).
	FailOn model.Severity `yaml:"fail-on"`
	// Line is the line of this entry in the config file.
	Line int `yaml:"-"`
}

func (v *Verify) defaults() {
	if v.Timeout == "" {
		v.Timeout = "5m"
	}
}
