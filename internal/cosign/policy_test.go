package cosign

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestPolicyFromConfigNamesTheLine(t *testing.T) {
	c, err := config.Parse("tollgate.yaml", []byte(`version: 1
verify:
  key: cosign.pub
  require:
    - type: provenance
      max-age: 7d
    - type: vuln
      max-age: 48h
    - type: sbom
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := PolicyFrom(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Requirements) != 3 || p.Requirements[0].Types[0].Name != TypeProvenance || p.Requirements[0].MaxAge != 7*24*time.Hour ||
		p.Requirements[1].FailOn != model.SeverityHigh || len(p.Requirements[2].Types) != 2 || p.Requirements[1].Line != 7 {
		t.Fatalf("policy %+v", p)
	}
	if got := len(p.Types()); got != 4 {
		t.Errorf("Types() = %d distinct types, want 4 (provenance, vuln, spdxjson, cyclonedx)", got)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"  require:\n    - type: sboms\n", "unknown attestation type \"sboms\""},
		{"  require:\n    - type: vuln\n      max-age: soon\n", "max-age"},
		{"  require:\n    - type: sbom\n      fail-on: HIGH\n", "fail-on only applies to the vuln"},
		{"  require:\n    - max-age: 7d\n", "needs a type"},
	} {
		c, err := config.Parse("tollgate.yaml", []byte("version: 1\nverify:\n"+bad.yaml))
		if err != nil {
			t.Fatal(err)
		}
		_, err = PolicyFrom(c)
		var ie *model.InputError
		if !errors.As(err, &ie) || ie.Line != 4 || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v, want an input error at line 4 containing %q", bad.yaml, err, bad.want)
		}
	}
}

// Real stderr of cosign v2.6.5 for each outcome (captured from the registry tests).
func TestVerifyOutcomes(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		stderr string
		want   Outcome
		errT   string // "input", "tool" or ""
	}{
		{"verified", 0, "Verification for x --\n", Verified, ""},
		{"unsigned", 10, "Error: no signatures found\nerror during command execution: no signatures found\n", Unsigned, ""},
		{"wrong key", 12, "Error: no matching signatures: invalid signature when validating ASN.1 encoded signature\n", Untrusted, ""},
		{"registry down", 1, "Error: GET http://127.0.0.1:1/v2/: dial tcp 127.0.0.1:1: connect: connection refused\n", 0, "tool"},
		{"bad key", 1, "Error: loading public key: pem to public key: PEM decoding failed\n", 0, "input"},
		{"crash output", 2, "panic: runtime error\n", 0, "tool"},
	}
	for _, tt := range tests {
		got, err := VerifyOutcome(tt.code, []byte(tt.stderr), "cosign.pub")
		checkOutcome(t, tt.name, got, err, tt.want, tt.errT)
	}
	atts := []struct {
		name   string
		code   int
		stderr string
		want   Outcome
		errT   string
	}{
		{"verified", 0, "", Verified, ""},
		{"none at all", 1, "Error: no matching attestations: \n", NoAttestation, ""},
		{"other type only", 1, "Error: none of the attestations matched the predicate type: slsaprovenance1, found: https://cosign.sigstore.dev/attestation/vuln/v1\n", NoAttestation, ""},
		{"wrong key", 1, "Error: no matching attestations: accepted signatures do not match threshold, Found: 0, Expected 1\n", NoAttestation, ""},
		{"timeout", 1, "Error: context deadline exceeded\n", 0, "tool"},
	}
	for _, tt := range atts {
		got, err := AttestationOutcome(tt.code, []byte(tt.stderr), "cosign.pub")
		checkOutcome(t, "attestation "+tt.name, got, err, tt.want, tt.errT)
	}
}

func checkOutcome(t *testing.T, name string, got Outcome, err error, want Outcome, errT string) {
	t.Helper()
	var ie *model.InputError
	var te *model.ToolError
	switch errT {
	case "":
		if err != nil || got != want {
			t.Errorf("%s: outcome %v err %v, want %v", name, got, err, want)
		}
	case "input":
		if !errors.As(err, &ie) || ie.File != "cosign.pub" {
			t.Errorf("%s: err %v, want an input error naming cosign.pub", name, err)
		}
	case "tool":
		if !errors.As(err, &te) {
			t.Errorf("%s: err %v, want a tool error", name, err)
		}
	}
}

func TestSignErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		stderr string
		input  bool
		want   string
	}{
		{"Error: signing [r]: signing digest: getting signer: reading key: decrypt: encrypted: decryption failed\n", true, "wrong password for the cosign private key (password from $TOLLGATE_COSIGN_PASSWORD)"},
		{"Error: signing [r]: signing digest: getting signer: reading key: invalid pem block\n", true, "not a usable cosign private key"},
		{"Error: signing [r]: signing digest: getting signer: reading key: open missing.key: no such file or directory\n", true, "not found"},
		{"Error: signing [r]: PUT http://127.0.0.1/v2/app/manifests/sha256-x.sig: unexpected status code 500\n", false, "PUT"},
	}
	for _, tt := range tests {
		err := SignError("sign", 1, []byte(tt.stderr), "release.key", "$TOLLGATE_COSIGN_PASSWORD")
		var ie *model.InputError
		if errors.As(err, &ie) != tt.input || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v (input %v), want input=%v containing %q", tt.stderr, err, errors.As(err, &ie), tt.input, tt.want)
		}
		if tt.input && ie.File != "release.key" {
			t.Errorf("%q: names %q, want the key", tt.stderr, ie.File)
		}
	}
}

func vulnPredicateFor(t *testing.T, created time.Time, vulns string, suppressed []Suppressed) json.RawMessage {
	t.Helper()
	report := `{"SchemaVersion":2,"CreatedAt":"` + created.Format(time.RFC3339) + `","ArtifactName":"app","Metadata":{"ImageID":"sha256:cfg"},
	"Results":[{"Target":"app (alpine 3.19.1)","Vulnerabilities":[` + vulns + `]}]}`
	res := &model.StageResult{Stage: "scan", Status: model.StatusPass, Tool: model.Tool{Name: "trivy", Version: "v0.74.0"}, Duration: 3 * time.Second}
	for _, s := range suppressed {
		exp := time.Time{}
		if s.Expires != "" {
			exp, _ = time.Parse("2006-01-02", s.Expires)
		}
		res.Findings = append(res.Findings, model.Finding{RuleID: s.ID, Extra: map[string]string{"package": s.Package, "installed": s.Installed},
			Suppression: &model.Suppression{Kind: s.Kind, Reason: s.Reason, Expires: exp}})
	}
	b, err := VulnPredicate(VulnInput{Report: []byte(report), Scan: res, FailOn: model.SeverityHigh, Subject: &Subject{Repo: "r", Digest: testDigest, ConfigDigest: "sha256:cfg"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBlockingVulnsHonoursLiveSuppressionsOnly(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	vulns := `{"VulnerabilityID":"CVE-1","PkgName":"libssl3","InstalledVersion":"3.1.4-r0","Severity":"CRITICAL"},
	{"VulnerabilityID":"CVE-2","PkgName":"lodash","InstalledVersion":"4.17.15","Severity":"HIGH"},
	{"VulnerabilityID":"CVE-3","PkgName":"musl","InstalledVersion":"1.2","Severity":"MEDIUM"},
	{"VulnerabilityID":"CVE-4","PkgName":"busybox","InstalledVersion":"1.36","Severity":"UNKNOWN"}`
	tests := []struct {
		name       string
		suppressed []Suppressed
		failOn     model.Severity
		want       []string
	}{
		{"nothing suppressed, HIGH", nil, model.SeverityHigh, []string{"CVE-1 in libssl3 3.1.4-r0 (CRITICAL)", "CVE-2 in lodash 4.17.15 (HIGH)"}},
		{"nothing suppressed, CRITICAL", nil, model.SeverityCritical, []string{"CVE-1 in libssl3 3.1.4-r0 (CRITICAL)"}},
		{"VEX and live ignore", []Suppressed{{ID: "CVE-1", Package: "libssl3", Installed: "3.1.4-r0", Kind: "vex", Reason: "not reachable"},
			{ID: "CVE-2", Package: "lodash", Installed: "4.17.15", Kind: "config", Reason: "test only", Expires: "2026-12-31"}}, model.SeverityHigh, nil},
		{"expired ignore counts again", []Suppressed{{ID: "CVE-1", Package: "libssl3", Installed: "3.1.4-r0", Kind: "vex", Reason: "r"},
			{ID: "CVE-2", Package: "lodash", Installed: "4.17.15", Kind: "config", Reason: "r", Expires: "2026-11-29"}}, model.SeverityHigh, []string{"CVE-2 in lodash 4.17.15 (HIGH)"}},
		{"suppression of another package does not apply", []Suppressed{{ID: "CVE-1", Package: "libcrypto3", Kind: "vex", Reason: "r"}}, model.SeverityCritical, []string{"CVE-1 in libssl3 3.1.4-r0 (CRITICAL)"}},
	}
	for _, tt := range tests {
		pred := vulnPredicateFor(t, now.Add(-time.Hour), vulns, tt.suppressed)
		got, err := BlockingVulns(pred, tt.failOn, now)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: blocking %q, want %q", tt.name, got, tt.want)
		}
	}
	if _, err := BlockingVulns(json.RawMessage(`{"scanner":{"result":{"not":"trivy"}}}`), model.SeverityHigh, now); err == nil {
		t.Error("a result that is not a trivy report was judged instead of failing closed")
	}
}

func TestVulnPredicateRefusesAnotherImagesScan(t *testing.T) {
	report := `{"SchemaVersion":2,"CreatedAt":"2026-11-30T00:00:00Z","Metadata":{"ImageID":"sha256:other"},"Results":[]}`
	_, err := VulnPredicate(VulnInput{Report: []byte(report), Subject: &Subject{Repo: "r", Digest: testDigest, ConfigDigest: "sha256:mine"}})
	if err == nil || !strings.Contains(err.Error(), "another image") {
		t.Fatalf("err %v, want a refusal naming another image", err)
	}
	if _, err := VulnPredicate(VulnInput{Report: []byte(`{"SchemaVersion":1}`)}); err == nil {
		t.Fatal("accepted a report that is not trivy's schema 2")
	}
}

func TestStatementTimeAndRequirement(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	subj := &Subject{Input: "reg/app:1", Repo: "reg/app", Digest: testDigest}
	hex := strings.TrimPrefix(testDigest, "sha256:")
	st := func(typ, pred string) Statement {
		pt, _ := lookupType(typ)
		return Statement{PredicateType: pt.URI, Subject: []StatementSubj{{Name: "reg/app", Digest: map[string]string{"sha256": hex}}}, Predicate: json.RawMessage(pred)}
	}
	times := map[string]Statement{
		"2026-11-29T00:00:00Z": st(TypeSPDX, `{"creationInfo":{"created":"2026-11-29T00:00:00Z"}}`),
		"2026-11-28T00:00:00Z": st(TypeCycloneDX, `{"metadata":{"timestamp":"2026-11-28T00:00:00Z"}}`),
		"2026-11-27T00:00:00Z": st(TypeVuln, `{"metadata":{"scanStartedOn":"2026-11-26T00:00:00Z","scanFinishedOn":"2026-11-27T00:00:00Z"}}`),
		"2026-11-26T00:00:00Z": st(TypeProvenance, `{"runDetails":{"metadata":{"startedOn":"2026-11-25T00:00:00Z","finishedOn":"2026-11-26T00:00:00Z"}}}`),
	}
	for want, s := range times {
		if got := s.Time().UTC().Format(time.RFC3339); got != want {
			t.Errorf("%s: Time() = %s, want %s", s.PredicateType, got, want)
		}
	}
	sbom, _ := ParseRequirement("sbom", "7d", 0)
	old, _ := ParseRequirement("provenance", "3d", 0)
	missing, _ := ParseRequirement("vuln", "", 0)
	sts := map[string][]Statement{TypeCycloneDX: {times["2026-11-28T00:00:00Z"]}, TypeProvenance: {times["2026-11-26T00:00:00Z"]}}
	if f := sbom.Evaluate(subj, sts, now); f != nil {
		t.Errorf("a 2-day-old CycloneDX SBOM fails sbom max-age 7d: %s", f.Message)
	}
	f := old.Evaluate(subj, sts, now)
	if f == nil || f.RuleID != RuleStaleAttestation || !strings.Contains(f.Message, "provenance (slsaprovenance1)") || !strings.Contains(f.Message, "4d old") {
		t.Errorf("4-day-old provenance vs max-age 3d: %+v", f)
	}
	f = missing.Evaluate(subj, sts, now)
	if f == nil || f.RuleID != RuleMissingAttestation || f.Severity != model.SeverityCritical || !strings.Contains(f.Message, "no vuln attestation") {
		t.Errorf("missing vuln: %+v", f)
	}
	// A statement about another digest does not count.
	other := times["2026-11-28T00:00:00Z"]
	other.Subject = []StatementSubj{{Name: "reg/app", Digest: map[string]string{"sha256": strings.Repeat("f", 64)}}}
	if f := sbom.Evaluate(subj, map[string][]Statement{TypeCycloneDX: {other}}, now); f == nil || f.RuleID != RuleMissingAttestation {
		t.Errorf("an SBOM attested to another digest satisfied the requirement: %+v", f)
	}
	// Undated with a max age fails.
	undated := st(TypeSPDX, `{"spdxVersion":"SPDX-2.3"}`)
	if f := sbom.Evaluate(subj, map[string][]Statement{TypeSPDX: {undated}}, now); f == nil || f.RuleID != RuleStaleAttestation {
		t.Errorf("an undated SBOM passed a max-age requirement: %+v", f)
	}
}

func TestParseAttestationsFailsClosed(t *testing.T) {
	for _, out := range []string{"", "not json\n", `{"payloadType":"text/plain","payload":"e30="}`, `{"payloadType":"application/vnd.in-toto+json","payload":"e30="}`} {
		if _, err := ParseAttestations([]byte(out)); err == nil {
			t.Errorf("ParseAttestations(%q) accepted garbage", out)
		}
	}
	if _, err := ParseSignatures([]byte(`[{"critical":{"image":{"docker-manifest-digest":"sha256:other"}}}]`), testDigest); err == nil {
		t.Error("a signature for another digest was accepted")
	}
}
