package attest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

const (
	spdx = `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","creationInfo":{"created":"2026-11-30T00:00:00Z"}}`
	cdx  = `{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"timestamp":"2026-11-30T00:00:00Z"}}`
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The SBOMs and the scan report come from this run's sbom and scan results (whatever directory
// their artifacts are in), or from files the user names, which must exist and be what they claim.
func TestInputsFromResultsAndFiles(t *testing.T) {
	dir := t.TempDir()
	results := []*model.StageResult{
		{Stage: "sbom", Status: model.StatusPass, Artifacts: []model.Artifact{
			{Name: "SPDX", Path: write(t, dir, "sbom.spdx.json", spdx), Type: "application/spdx+json"},
			{Name: "CycloneDX", Path: write(t, dir, "sbom.cdx.json", cdx), Type: "application/vnd.cyclonedx+json"}}},
		{Stage: "scan", Status: model.StatusPass, Artifacts: []model.Artifact{{Name: "trivy report", Path: write(t, dir, "trivy.json", `{"SchemaVersion":2}`), Type: "application/json"}}},
	}
	env := &stage.Env{Root: dir, Config: config.Default()}
	sboms, err := sbomInputs(env, results)
	if err != nil || len(sboms) != 2 || sboms[0].typ != cosign.TypeSPDX || sboms[1].typ != cosign.TypeCycloneDX {
		t.Fatalf("sboms %+v err %v", sboms, err)
	}
	report, src, scanRes, err := vulnInput(env, results)
	if err != nil || string(report) != `{"SchemaVersion":2}` || scanRes == nil || !strings.Contains(src, "trivy.json") {
		t.Fatalf("vuln input %q from %q (%v), err %v", report, src, scanRes, err)
	}
	// A failed scan is never attested.
	results[1].Status = model.StatusFail
	if report, _, _, _ := vulnInput(env, results); report != nil {
		t.Error("the report of a failed scan was picked up")
	}

	env.Config.Attest.SBOM = []string{"missing.json"}
	_, err = sbomInputs(env, nil)
	var ie *model.InputError
	if !errors.As(err, &ie) || ie.File != "missing.json" {
		t.Errorf("missing SBOM file: %v", err)
	}
	write(t, dir, "notes.json", `{"hello":"world"}`)
	env.Config.Attest.SBOM = []string{"notes.json"}
	if _, err = sbomInputs(env, nil); !errors.As(err, &ie) || ie.File != "notes.json" {
		t.Errorf("a JSON file that is no SBOM: %v", err)
	}
	env.Config.Attest.VulnReport = "nowhere.json"
	if _, _, _, err = vulnInput(env, nil); !errors.As(err, &ie) || ie.File != "nowhere.json" {
		t.Errorf("missing vuln report: %v", err)
	}
}

func TestPredicatesAndSkips(t *testing.T) {
	cfg := config.Default()
	if p, err := Predicates(cfg); err != nil || !p[PredSBOM] || !p[PredVuln] || !p[PredProvenance] {
		t.Fatalf("default predicates %v %v", p, err)
	}
	cfg.Attest.Predicates = []string{"provenance", "sboms"}
	if _, err := Predicates(cfg); err == nil || !strings.Contains(err.Error(), `"sboms"`) {
		t.Fatalf("unknown predicate: %v", err)
	}
	t.Setenv(cosign.EnvKey, "")
	// Nothing to attest, or no signing configured: skipped in a run, an input error when asked for.
	run := func(args []string, shared *stage.Shared) (*model.StageResult, error) {
		return Stage().Run(context.Background(), &stage.Env{Root: t.TempDir(), Config: config.Default(), Args: args, Shared: shared})
	}
	if r, err := run(nil, nil); err != nil || r.Status != model.StatusSkipped || !strings.Contains(r.Error, "no image to attest") {
		t.Errorf("no image: %+v %v", r, err)
	}
	sh := &stage.Shared{}
	sh.Set(stage.KeySignedRef, "reg.example/app@sha256:"+strings.Repeat("a", 64))
	if r, err := run(nil, sh); err != nil || r.Status != model.StatusSkipped || !strings.Contains(r.Error, "signing not configured") {
		t.Errorf("no key in a run: %+v %v", r, err)
	}
	var ie *model.InputError
	if _, err := run([]string{"reg.example/app:1"}, nil); !errors.As(err, &ie) || !strings.Contains(err.Error(), "no signing key") {
		t.Errorf("tollgate attest IMAGE without a key: %v", err)
	}
}
