// Package sbom is the SBOM stage: syft describes the image once and writes SPDX 2.3 JSON and
// CycloneDX 1.6 JSON, the stored artifacts of a run (and what the sign stage can attest).
package sbom

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Format is one SBOM output: how syft names it (with the spec version pinned, because syft's
// default CycloneDX version moves between releases) and where it is written.
type Format struct {
	Name      string // name in tollgate.yaml: spdx-json, cyclonedx-json
	Syft      string // syft's -o format id, version pinned
	File      string // file name in the reports directory
	MediaType string
	Spec      string // spec and version the file must declare
}

// Known SBOM formats. The table is read-only.
var known = [...]Format{
	{Name: "spdx-json", Syft: "spdx-json@2.3", File: "sbom.spdx.json", MediaType: "application/spdx+json", Spec: "SPDX-2.3"},
	{Name: "cyclonedx-json", Syft: "cyclonedx-json@1.6", File: "sbom.cdx.json", MediaType: "application/vnd.cyclonedx+json", Spec: "CycloneDX 1.6"},
}

// FormatNames lists the format names tollgate.yaml accepts.
func FormatNames() []string {
	var n []string
	for _, f := range known {
		n = append(n, f.Name)
	}
	return n
}

// FormatsFor resolves format names (as in sbom.formats); unknown names and an empty list are errors.
func FormatsFor(names []string) ([]Format, error) {
	if len(names) == 0 {
		return nil, errors.New("sbom formats: none selected (want one or both of " + strings.Join(FormatNames(), ", ") + ")")
	}
	var out []Format
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		f, ok := lookup(n)
		if !ok {
			return nil, fmt.Errorf("sbom formats: unknown format %q (want %s)", n, strings.Join(FormatNames(), ", "))
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, f)
		}
	}
	return out, nil
}

func lookup(name string) (Format, bool) {
	for _, f := range known {
		if f.Name == name {
			return f, true
		}
	}
	return Format{}, false
}

// Summary is what an SBOM file says, enough to judge it: its spec and its packages.
type Summary struct {
	Format   Format
	Spec     string         // as declared in the file
	Packages int            // packages with a purl (the image's OS and the image itself excluded)
	ByType   map[string]int // purl type (apk, npm, golang...) -> packages
}

// Check parses syft's output for f. Output that is not that spec and version is a syft failure
// (the caller wraps it as a *model.ToolError), never an SBOM to hand on.
func Check(f Format, data []byte) (*Summary, error) {
	s := &Summary{Format: f, ByType: map[string]int{}}
	switch f.Name {
	case "spdx-json":
		var doc struct {
			SPDXVersion string `json:"spdxVersion"`
			SPDXID      string `json:"SPDXID"`
			Packages    []struct {
				SPDXID       string `json:"SPDXID"`
				ExternalRefs []struct {
					Type    string `json:"referenceType"`
					Locator string `json:"referenceLocator"`
				} `json:"externalRefs"`
			} `json:"packages"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: not valid SPDX JSON: %w", f.File, err)
		}
		s.Spec = doc.SPDXVersion
		if doc.SPDXID != "SPDXRef-DOCUMENT" {
			return nil, fmt.Errorf("%s: not an SPDX document (SPDXID %q)", f.File, doc.SPDXID)
		}
		for _, p := range doc.Packages {
			if strings.HasPrefix(p.SPDXID, "SPDXRef-DocumentRoot-") {
				continue // the image itself (pkg:oci/...), not a package in it
			}
			for _, r := range p.ExternalRefs {
				if r.Type == "purl" {
					s.count(r.Locator)
					break
				}
			}
		}
	case "cyclonedx-json":
		var bom struct {
			BOMFormat   string `json:"bomFormat"`
			SpecVersion string `json:"specVersion"`
			Components  []struct {
				Type string `json:"type"`
				PURL string `json:"purl"`
			} `json:"components"`
		}
		if err := json.Unmarshal(data, &bom); err != nil {
			return nil, fmt.Errorf("%s: not valid CycloneDX JSON: %w", f.File, err)
		}
		if bom.BOMFormat != "CycloneDX" {
			return nil, fmt.Errorf("%s: not a CycloneDX BOM (bomFormat %q)", f.File, bom.BOMFormat)
		}
		s.Spec = "CycloneDX " + bom.SpecVersion
		for _, c := range bom.Components {
			if c.PURL != "" && c.Type != "operating-system" {
				s.count(c.PURL)
			}
		}
	default:
		return nil, fmt.Errorf("unknown SBOM format %q", f.Name)
	}
	if s.Spec != f.Spec {
		return nil, fmt.Errorf("%s: declares %q, want %s", f.File, s.Spec, f.Spec)
	}
	return s, nil
}

func (s *Summary) count(purl string) {
	t, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return
	}
	t, _, _ = strings.Cut(t, "/")
	s.Packages++
	s.ByType[strings.ToLower(t)]++
}

// TypesLine renders ByType as "apk 4, golang 2, npm 1".
func (s *Summary) TypesLine() string {
	var keys []string
	for k := range s.ByType {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.ByType[k]))
	}
	return strings.Join(parts, ", ")
}
