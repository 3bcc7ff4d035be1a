package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/vex"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// VEXDoc is a parsed OpenVEX document and the file it came from.
type VEXDoc struct {
	Name string
	Doc  *vex.VEX
}

// ParseVEX reads an OpenVEX JSON document. Anything else (CycloneDX VEX, CSAF, garbage) or an
// invalid statement is a *model.InputError naming the file: a VEX file that silently suppressed
// nothing would look like it worked.
func ParseVEX(name string, data []byte) (*VEXDoc, error) {
	var head struct {
		Context string `json:"@context"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("not an OpenVEX JSON document: %w", err)}
	}
	if !strings.HasPrefix(head.Context, "https://openvex.dev/ns") {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("not an OpenVEX document (@context %q, want https://openvex.dev/ns/...)", head.Context)}
	}
	doc, err := vex.Parse(bytes.TrimSpace(data))
	if err != nil {
		return nil, &model.InputError{File: name, Err: err}
	}
	for i := range doc.Statements {
		st := &doc.Statements[i]
		if err := st.Validate(); err != nil {
			return nil, &model.InputError{File: name, Err: fmt.Errorf("statement %d (%s): %w", i+1, st.Vulnerability.Name, err)}
		}
	}
	return &VEXDoc{Name: name, Doc: doc}, nil
}

// Subject identifies the scanned image for VEX products that name the image rather than a
// package: its input, reference and manifest digest.
type Subject struct {
	Names  []string
	Digest string
}

func (s Subject) matchesProduct(p vex.Product) bool {
	for _, n := range s.Names {
		if n != "" && p.Component.Matches(n) {
			return true
		}
	}
	if s.Digest != "" && (p.Component.Matches(s.Digest) || p.Hashes[vex.SHA256] == vex.Hash(strings.TrimPrefix(s.Digest, "sha256:"))) {
		return true
	}
	// An OCI purl names the image by digest: pkg:oci/name@sha256%3A...
	for _, id := range append([]string{p.ID}, p.Identifiers[vex.PURL]) {
		if strings.HasPrefix(id, "pkg:oci/") && s.Digest != "" && strings.Contains(strings.ReplaceAll(id, "%3A", ":"), "@"+s.Digest) {
			return true
		}
	}
	return false
}

// statementApplies: the statement names the vulnerability and either has no products, names the
// package itself (by purl), or names the image with the package among its subcomponents (or no
// subcomponents: the whole image).
func statementApplies(st *vex.Statement, f *model.Finding, subj Subject) bool {
	if !st.Vulnerability.Matches(f.RuleID) {
		return false
	}
	if len(st.Products) == 0 {
		return true
	}
	purl := f.Extra["purl"]
	for _, p := range st.Products {
		if purl != "" && p.Component.Matches(purl) {
			return true
		}
		if subj.matchesProduct(p) {
			if len(p.Subcomponents) == 0 {
				return true
			}
			for _, sc := range p.Subcomponents {
				if purl != "" && sc.Matches(purl) {
					return true
				}
			}
		}
	}
	return false
}

// ApplyVEX suppresses findings whose latest applicable statement is not_affected or fixed
// (kind "vex", with the justification and impact statement as the reason). A later affected or
// under_investigation statement wins over an earlier not_affected one.
func ApplyVEX(findings []model.Finding, docs []*VEXDoc, subj Subject) {
	for i := range findings {
		f := &findings[i]
		if f.Suppression != nil {
			continue
		}
		var latest *vex.Statement
		var latestTime time.Time
		var latestDoc string
		for _, d := range docs {
			docTime := time.Time{}
			if d.Doc.Timestamp != nil {
				docTime = *d.Doc.Timestamp
			}
			for j := range d.Doc.Statements {
				st := &d.Doc.Statements[j]
				if !statementApplies(st, f, subj) {
					continue
				}
				t := docTime
				if st.Timestamp != nil && !st.Timestamp.IsZero() {
					t = *st.Timestamp
				}
				if latest == nil || !t.Before(latestTime) {
					latest, latestTime, latestDoc = st, t, d.Name
				}
			}
		}
		if latest == nil {
			continue
		}
		switch latest.Status {
		case vex.StatusNotAffected, vex.StatusFixed:
			reason := "VEX " + string(latest.Status)
			if latest.Justification != "" {
				reason += " (" + string(latest.Justification) + ")"
			}
			if latest.ImpactStatement != "" {
				reason += ": " + latest.ImpactStatement
			} else if latest.StatusNotes != "" {
				reason += ": " + latest.StatusNotes
			}
			reason += " [" + filepath.Base(latestDoc) + "]"
			f.Suppression = &model.Suppression{Kind: "vex", Reason: reason}
			if f.Extra == nil {
				f.Extra = map[string]string{}
			}
			f.Extra["vex_status"] = string(latest.Status)
			if latest.Justification != "" {
				f.Extra["vex_justification"] = string(latest.Justification)
			}
		default:
			if f.Extra == nil {
				f.Extra = map[string]string{}
			}
			f.Extra["vex_status"] = string(latest.Status)
		}
	}
}
