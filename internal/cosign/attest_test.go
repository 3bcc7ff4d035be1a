package cosign

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	spdxcommon "github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func spdxDoc(t *testing.T, created time.Time) []byte {
	t.Helper()
	doc := &v2_3.Document{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXIdentifier: "DOCUMENT", DocumentName: "team/attested",
		DocumentNamespace: "https://tollgate.test/spdx/" + randomString(),
		CreationInfo:      &v2_3.CreationInfo{Creators: []spdxcommon.Creator{{CreatorType: "Tool", Creator: "syft-v1.57.1"}}, Created: created.UTC().Format(time.RFC3339)},
		Packages: []*v2_3.Package{{PackageName: "libssl3", PackageSPDXIdentifier: "Package-libssl3", PackageVersion: "3.1.4-r0",
			PackageDownloadLocation: "NOASSERTION", PackageExternalReferences: []*v2_3.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: "pkg:apk/alpine/libssl3@3.1.4-r0"}}}},
	}
	var b bytes.Buffer
	if err := spdxjson.Write(doc, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func cdxDoc(t *testing.T, created time.Time) []byte {
	t.Helper()
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
	bom.Metadata = &cdx.Metadata{Timestamp: created.UTC().Format(time.RFC3339), Component: &cdx.Component{Type: cdx.ComponentTypeContainer, Name: "team/attested"}}
	bom.Components = &[]cdx.Component{{Type: cdx.ComponentTypeLibrary, Name: "lodash", Version: "4.17.15", PackageURL: "pkg:npm/lodash@4.17.15", BOMRef: "pkg:npm/lodash@4.17.15"}}
	var b bytes.Buffer
	if err := cdx.NewBOMEncoder(&b, cdx.BOMFileFormatJSON).EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func trivyJSON(created time.Time, imageID string, vulns ...string) []byte {
	return []byte(fmt.Sprintf(`{"SchemaVersion":2,"CreatedAt":%q,"ArtifactName":"team/attested","ArtifactType":"container_image",
  "Metadata":{"ImageID":%q,"RepoDigests":[]},
  "Results":[{"Target":"team/attested (alpine 3.19.1)","Class":"os-pkgs","Type":"alpine","Vulnerabilities":[%s]}]}`,
		created.UTC().Format(time.RFC3339Nano), imageID, strings.Join(vulns, ",")))
}

func vuln(id, pkg, sev string) string {
	return fmt.Sprintf(`{"VulnerabilityID":%q,"PkgName":%q,"InstalledVersion":"1.0","FixedVersion":"1.1","Severity":%q}`, id, pkg, sev)
}

// attestWith attaches one predicate with key1, as the attest stage does.
func attestWith(t *testing.T, subj *Subject, typ string, pred []byte) {
	t.Helper()
	req := SignRequest{Exec: Exec{Binary: fx.cosign, Env: Env(Secrets{Password: fx.pw1}, true, nil)}, Subject: subj,
		Signer: Signer{Key: fx.key1}, Common: Common{AllowHTTP: true}, KeySource: fx.key1}
	if err := Attest(context.Background(), req, typ, pred, t.TempDir()); err != nil {
		t.Fatalf("attest %s: %v", typ, err)
	}
}

// readBack fetches the verified statements of one type with the real cosign verify-attestation.
func readBack(t *testing.T, subj *Subject, typ string) []Statement {
	t.Helper()
	v := verifier(fx.pub1)
	root := t.TempDir() + "/root.json"
	writeFile(t, root, EmptyTrustedRoot)
	trust := v.Trust
	trust.TrustedRoot = root
	args, err := VerifyAttestationArgs(trust, v.Common, typ, subj.Ref())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Exec{Binary: fx.cosign}.Run(context.Background(), args)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("verify-attestation --type %s: %v exit %d %s", typ, err, res.ExitCode, res.Stderr)
	}
	sts, err := ParseAttestations(res.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	return sts
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestAttestationsRoundTripAndPolicy(t *testing.T) {
	need(t)
	ctx := context.Background()
	now := time.Now().UTC()
	push(t, "team/attested:1", smallImage(t))
	subj := signWith(t, fx.reg.Host+"/team/attested:1", fx.key1, fx.pw1)

	scan := &model.StageResult{Stage: "scan", Status: model.StatusPass, Tool: model.Tool{Name: "trivy", Version: "v0.74.0"}, Duration: 4 * time.Second,
		Findings: []model.Finding{{RuleID: "CVE-2024-0001", Severity: model.SeverityCritical, Extra: map[string]string{"package": "libssl3", "installed": "1.0"},
			Suppression: &model.Suppression{Kind: "vex", Reason: "vulnerable code not in execute path"}}}}
	vulnPred, err := VulnPredicate(VulnInput{Report: trivyJSON(now.Add(-time.Hour), subj.ConfigDigest, vuln("CVE-2024-0001", "libssl3", "CRITICAL"), vuln("CVE-2024-0002", "musl", "MEDIUM")),
		Scan: scan, FailOn: model.SeverityHigh, Subject: subj, BuilderID: "https://ci.test/run/1", Repository: "https://git.test/team/app"})
	if err != nil {
		t.Fatal(err)
	}
	results := []*model.StageResult{
		{Stage: "lint", Status: model.StatusPass, Tool: model.Tool{Name: "tollgate-lint", Version: "1"}, Summary: "no findings", Duration: time.Second},
		scan,
		{Stage: "sbom", Status: model.StatusPass, Tool: model.Tool{Name: "syft", Version: "v1.57.1"}, Summary: "2 packages"},
	}
	provPred, err := Provenance(ProvenanceInput{Subject: subj, Source: Source{Repository: "https://git.test/team/app", Revision: strings.Repeat("a", 40), Ref: "refs/heads/main"},
		BuilderID: "https://ci.test/run/1", Results: results, Started: now.Add(-2 * time.Minute), Finished: now.Add(-time.Minute),
		ConfigFile: "tollgate.yaml", Config: []byte("version: 1\n")})
	if err != nil {
		t.Fatal(err)
	}
	preds := map[string][]byte{
		TypeSPDX:       spdxDoc(t, now.Add(-time.Hour)),
		TypeCycloneDX:  cdxDoc(t, now.Add(-time.Hour)),
		TypeVuln:       vulnPred,
		TypeProvenance: provPred,
	}
	for _, typ := range []string{TypeSPDX, TypeCycloneDX, TypeVuln, TypeProvenance} {
		attestWith(t, subj, typ, preds[typ])
	}

	t.Run("each predicate round-trips", func(t *testing.T) {
		for typ, want := range preds {
			sts := readBack(t, subj, typ)
			if len(sts) != 1 {
				t.Fatalf("%s: %d statements, want 1 (--replace)", typ, len(sts))
			}
			st := sts[0]
			pt, _ := LookupType(typ)
			if st.PredicateType != pt.URI || !st.Covers(subj.Digest) {
				t.Errorf("%s: statement type %s subjects %+v", typ, st.PredicateType, st.Subject)
			}
			if !jsonEqual(t, st.Predicate, want) {
				t.Errorf("%s: predicate changed on the way through cosign:\n got %s\nwant %s", typ, st.Predicate, want)
			}
		}
	})

	reqs := func(specs ...string) []Requirement {
		var out []Requirement
		for _, s := range specs {
			typ, age, _ := strings.Cut(s, ":")
			r, err := ParseRequirement(typ, age, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	t.Run("policy passes", func(t *testing.T) {
		v := verifier(fx.pub1, reqs("sbom:7d", "spdxjson", "cyclonedx:1d", "vuln:7d", "provenance:7d")...)
		fs, err := v.VerifyImages(ctx, []string{fx.reg.Host + "/team/attested:1"})
		if err != nil || len(fs) != 0 {
			t.Fatalf("findings %+v, err %v", fs, err)
		}
	})
	t.Run("too old fails and says which", func(t *testing.T) {
		v := verifier(fx.pub1, reqs("vuln:30m", "provenance:7d")...)
		fs, err := v.VerifyImages(ctx, []string{subj.Ref()})
		if err != nil || len(fs) != 1 || fs[0].RuleID != RuleStaleAttestation || !strings.Contains(fs[0].Message, "newest vuln attestation") || !strings.Contains(fs[0].Message, "30m0s") {
			t.Fatalf("findings %+v, err %v", fs, err)
		}
	})
	t.Run("wrong key: signature and every attestation fail", func(t *testing.T) {
		v := verifier(fx.pub2, reqs("vuln", "provenance")...)
		fs, err := v.VerifyImages(ctx, []string{subj.Ref()})
		if err != nil || strings.Join(rules(fs), ",") != "VERIFY002,VERIFY003,VERIFY003" {
			t.Fatalf("findings %v, err %v", rules(fs), err)
		}
	})
	t.Run("a blocking vulnerability fails, a stricter threshold too", func(t *testing.T) {
		strict, _ := ParseRequirement("vuln", "", model.SeverityMedium)
		fs, err := verifier(fx.pub1, strict).VerifyImages(ctx, []string{subj.Ref()})
		if err != nil || len(fs) != 1 || fs[0].RuleID != RuleBlockingVulns || !strings.Contains(fs[0].Message, "CVE-2024-0002 in musl") || strings.Contains(fs[0].Message, "CVE-2024-0001") {
			t.Fatalf("findings %+v, err %v (the VEX-suppressed CRITICAL must not count, the MEDIUM must)", fs, err)
		}
	})

	// A second image: signed, provenance only, and a month-old scan.
	push(t, "team/partial:1", smallImage(t))
	part := signWith(t, fx.reg.Host+"/team/partial:1", fx.key1, fx.pw1)
	attestWith(t, part, TypeProvenance, provPred)
	t.Run("missing attestation fails and says which", func(t *testing.T) {
		fs, err := verifier(fx.pub1, reqs("provenance", "vuln", "sbom")...).VerifyImages(ctx, []string{part.Ref()})
		if err != nil || len(fs) != 2 {
			t.Fatalf("findings %+v, err %v", fs, err)
		}
		if !strings.Contains(fs[0].Message, "no vuln attestation") || !strings.Contains(fs[1].Message, "no sbom (spdxjson or cyclonedx) attestation") {
			t.Errorf("messages %q / %q should name the missing types", fs[0].Message, fs[1].Message)
		}
	})
	old, err := VulnPredicate(VulnInput{Report: trivyJSON(now.Add(-30*24*time.Hour), part.ConfigDigest), Subject: part})
	if err != nil {
		t.Fatal(err)
	}
	attestWith(t, part, TypeVuln, old)
	t.Run("month-old scan fails max-age 7d", func(t *testing.T) {
		fs, err := verifier(fx.pub1, reqs("vuln:7d")...).VerifyImages(ctx, []string{part.Ref()})
		if err != nil || len(fs) != 1 || fs[0].RuleID != RuleStaleAttestation || !strings.Contains(fs[0].Message, "30d old") {
			t.Fatalf("findings %+v, err %v", fs, err)
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
