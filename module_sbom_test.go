//go:build daggerunit

package main

import (
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestSbomConfigImage(t *testing.T) {
	tests := []struct{ sbom, scan, want string }{
		{"", "", ""},
		{"sbom.tar", "scan.tar", "sbom.tar"},
		{"", "registry.example/app:1", "registry.example/app:1"},
		{"  ", " app.tar ", "app.tar"},
	}
	for _, tc := range tests {
		if got := sbomConfigImage(tc.sbom, tc.scan); got != tc.want {
			t.Errorf("sbomConfigImage(%q, %q) = %q, want %q", tc.sbom, tc.scan, got, tc.want)
		}
	}
}

// Issue 8.3: selecting an SBOM the stage did not write is an error (so `spdx export` fails),
// never a null that the CLI prints as <nil> and exits 0.
func TestSbomResultMissingFiles(t *testing.T) {
	failed := &SbomResult{Formats: []string{"spdx-json", "cyclonedx-json"},
		Report: result("sbom", model.StatusError, model.ErrKindTool)}
	skippedRes := &SbomResult{Formats: []string{"spdx-json"}, Report: skipped("sbom", "no image given")}
	onlyCDX := &SbomResult{Formats: []string{"cyclonedx-json"}, Report: result("sbom", model.StatusPass, "")}
	tests := []struct {
		name string
		get  func() error
		want string
	}{
		{"spdx of a failed run", func() error { _, err := failed.Spdx(); return err }, "no SBOM: sbom: tool error (exit 3): boom"},
		{"cyclonedx of a failed run", func() error { _, err := failed.Cyclonedx(); return err }, "no SBOM: sbom: tool error"},
		{"files of a failed run", func() error { _, err := failed.Files(); return err }, "no SBOM: sbom: tool error"},
		{"spdx of a skipped run", func() error { _, err := skippedRes.Spdx(); return err }, "nothing checked (exit 2): no image given"},
		{"format not asked for", func() error { _, err := onlyCDX.Spdx(); return err }, "no spdx-json SBOM: the formats were cyclonedx-json (pass --formats=spdx-json)"},
	}
	for _, tc := range tests {
		err := tc.get()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
