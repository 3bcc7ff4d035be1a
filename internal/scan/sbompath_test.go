package scan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// TestSBOMPathLosesOSFindings is the regression test behind "scan the image, not syft's SBOM".
// It pipes syft's CycloneDX and SPDX of the vulnerable fixture through `trivy sbom` and asserts
// the loss measured with syft v1.57.1 and trivy v0.74.0:
//   - CycloneDX: OS findings of binary packages named differently from their source package
//     (libcrypto3/libssl3 from openssl) are lost;
//   - SPDX: every OS finding is lost (trivy finds no OS in it);
//   - Go and npm findings survive both.
//
// If a future syft/trivy stops losing them, this test fails on purpose: scanning the SBOM (one
// catalogue instead of two) may then be sound, and docs/scanning.md should be revisited.
func TestSBOMPathLosesOSFindings(t *testing.T) {
	needFixtures(t)
	trivy := toolPath(t, "trivy")
	syft := toolPath(t, "syft")
	ctx := context.Background()
	dir := t.TempDir()
	cdx, spdx := filepath.Join(dir, "sbom.cdx.json"), filepath.Join(dir, "sbom.spdx.json")
	res, err := tools.Run(ctx, "syft", tools.Cmd{
		Path: syft,
		Args: []string{"scan", "docker-archive:" + fx.vulnDocker, "-q", "-o", "cyclonedx-json=" + cdx, "-o", "spdx-json=" + spdx},
		Dir:  dir, Env: []string{"SYFT_CHECK_FOR_APP_UPDATE=false"},
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("syft: exit %v %v: %s", res.ExitCode, err, res.Stderr)
	}
	opts, _ := OptionsFrom(offlineConfig(), "")

	direct := scanSBOMOrImage(t, trivy, opts, []string{"--input", fx.vulnDocker}, "")
	fromCDX := scanSBOMOrImage(t, trivy, opts, nil, cdx)
	fromSPDX := scanSBOMOrImage(t, trivy, opts, nil, spdx)

	if len(direct) != len(testimage.Planted()) {
		t.Fatalf("direct image scan found %d findings, want the %d planted", len(direct), len(testimage.Planted()))
	}
	var lostCDX, lostSPDX, keptCDX, keptSPDX []string
	for _, p := range testimage.Planted() {
		k := p.ID + "/" + p.Package
		inCDX, inSPDX := fromCDX[k], fromSPDX[k]
		switch p.Class {
		case "os-pkgs":
			if inCDX {
				keptCDX = append(keptCDX, k)
			}
			if inSPDX {
				keptSPDX = append(keptSPDX, k)
			}
		default:
			if !inCDX {
				lostCDX = append(lostCDX, k)
			}
			if !inSPDX {
				lostSPDX = append(lostSPDX, k)
			}
		}
	}
	if len(keptCDX) > 0 || len(keptSPDX) > 0 {
		t.Fatalf("trivy sbom now finds OS vulnerabilities it used to miss (CycloneDX: %v, SPDX: %v): "+
			"the cheaper path (scanning syft's SBOM instead of the image) may now be sound; "+
			"re-measure and update docs/scanning.md and this test", keptCDX, keptSPDX)
	}
	if len(lostCDX) > 0 || len(lostSPDX) > 0 {
		t.Fatalf("Go/npm findings no longer survive the SBOM path (lost via CycloneDX: %v, via SPDX: %v): the measured behaviour changed; update docs/scanning.md",
			lostCDX, lostSPDX)
	}
	t.Logf("direct: %d findings; via CycloneDX: %d; via SPDX: %d", len(direct), len(fromCDX), len(fromSPDX))
}

// scanSBOMOrImage runs `trivy image` (imageArgs) or `trivy sbom` (sbomFile) with the shared
// options and returns the set of "CVE/package" found.
func scanSBOMOrImage(t *testing.T, trivy string, opts Options, imageArgs []string, sbomFile string) map[string]bool {
	t.Helper()
	work := t.TempDir()
	out := filepath.Join(work, "out.json")
	args := ImageArgs(opts, imageArgs, out)
	if sbomFile != "" {
		args[0] = "sbom"
		args = append(args, sbomFile)
	}
	res, err := tools.Run(context.Background(), "trivy", tools.Cmd{Path: trivy, Args: args, Dir: work})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("trivy %s: exit %v %v: %s", args[0], res.ExitCode, err, res.Stderr)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, f := range fs {
		set[f.RuleID+"/"+f.Extra["package"]] = true
	}
	if sbomFile != "" {
		t.Logf("%s: %s", filepath.Base(sbomFile), describe(fs))
	}
	return set
}

func describe(fs []model.Finding) string {
	var ks []string
	for _, f := range fs {
		ks = append(ks, f.RuleID+"/"+f.Extra["package"]+"("+f.Extra["class"]+")")
	}
	return strings.Join(ks, ", ")
}
