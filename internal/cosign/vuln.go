package cosign

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// trivyReport is the part of trivy's JSON report (schema 2) the vuln predicate needs. The scan
// stage has its own reader; a library does not import a stage.
type trivyReport struct {
	SchemaVersion int       `json:"SchemaVersion"`
	CreatedAt     time.Time `json:"CreatedAt"`
	ArtifactName  string    `json:"ArtifactName"`
	Metadata      struct {
		ImageID     string   `json:"ImageID"`
		RepoDigests []string `json:"RepoDigests"`
	} `json:"Metadata"`
	Results []struct {
		Target          string `json:"Target"`
		Vulnerabilities []struct {
			VulnerabilityID  string `json:"VulnerabilityID"`
			PkgName          string `json:"PkgName"`
			InstalledVersion string `json:"InstalledVersion"`
			Severity         string `json:"Severity"`
		} `json:"Vulnerabilities"`
	} `json:"Results"`
}

func readTrivyReport(b []byte) (*trivyReport, error) {
	var r trivyReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("not a trivy JSON report: %v", err)
	}
	if r.SchemaVersion != 2 {
		return nil, fmt.Errorf("not a trivy JSON report (schema version %d, want 2)", r.SchemaVersion)
	}
	return &r, nil
}

// Suppressed is one finding the scan gate did not count, as recorded in the vuln predicate so
// that verification judges the scan the way the gate did (and stops honouring it once expired).
type Suppressed struct {
	ID        string `json:"id"`
	Package   string `json:"package,omitempty"`
	Installed string `json:"installed,omitempty"`
	Kind      string `json:"kind"`
	Reason    string `json:"reason"`
	Expires   string `json:"expires,omitempty"` // YYYY-MM-DD
}

// vulnParams is Tollgate's part of the predicate's invocation parameters.
type vulnParams struct {
	Tollgate struct {
		// FailOn was the scan gate's threshold.
		FailOn string `json:"failOn,omitempty"`
		// Status was the scan gate's decision.
		Status     string       `json:"status,omitempty"`
		Suppressed []Suppressed `json:"suppressed"`
	} `json:"tollgate"`
}

// VulnInput is what the vulnerability attestation is made of.
type VulnInput struct {
	// Report is trivy's JSON report.
	Report []byte
	// Scan is the scan stage's gated result, when it ran in this run: its suppressions, threshold
	// and duration go into the predicate. Nil for a report given as a file.
	Scan   *model.StageResult
	FailOn model.Severity
	// Subject is the image attested: a report about another image (by config digest) is refused.
	Subject *Subject
	// BuilderID and Repository name who scanned what (invocation.builder.id and uri).
	BuilderID, Repository string
}

// cosignVuln mirrors cosign's vulnerability predicate (https://cosign.sigstore.dev/attestation/vuln/v1).
type cosignVuln struct {
	Invocation struct {
		Parameters any    `json:"parameters"`
		URI        string `json:"uri"`
		EventID    string `json:"event_id"`
		BuilderID  string `json:"builder.id"`
	} `json:"invocation"`
	Scanner struct {
		URI     string `json:"uri"`
		Version string `json:"version"`
		DB      struct {
			URI     string `json:"uri"`
			Version string `json:"version"`
		} `json:"db"`
		Result any `json:"result"`
	} `json:"scanner"`
	Metadata struct {
		ScanStartedOn  time.Time `json:"scanStartedOn"`
		ScanFinishedOn time.Time `json:"scanFinishedOn"`
	} `json:"metadata"`
}

// VulnPredicate builds cosign's vulnerability predicate from a trivy report: the report itself is
// the result, the scan's start and end come from the report's CreatedAt (and the stage's
// duration), and the gate's suppressions are recorded in the invocation parameters. A report that
// is not trivy's, or is about another image, is an error (the caller names the file).
func VulnPredicate(in VulnInput) ([]byte, error) {
	r, err := readTrivyReport(in.Report)
	if err != nil {
		return nil, err
	}
	if s := in.Subject; s != nil && s.ConfigDigest != "" && r.Metadata.ImageID != "" && r.Metadata.ImageID != s.ConfigDigest {
		return nil, fmt.Errorf("the report describes image %s, but %s has config %s: it is the scan of another image", r.Metadata.ImageID, s.Ref(), s.ConfigDigest)
	}
	var result any
	if err := json.Unmarshal(in.Report, &result); err != nil {
		return nil, err
	}
	trivy := tools.MustGet("trivy")
	var p cosignVuln
	p.Scanner.URI = "pkg:golang/" + trivy.Module + "@" + trivy.Version
	p.Scanner.Version = trivy.Version
	p.Scanner.Result = result
	if in.Scan != nil && in.Scan.Tool.Version != "" {
		p.Scanner.Version = in.Scan.Tool.Version
	}
	finished := r.CreatedAt.UTC()
	started := finished
	if in.Scan != nil {
		started = finished.Add(-in.Scan.Duration)
	}
	p.Metadata.ScanStartedOn, p.Metadata.ScanFinishedOn = started, finished
	var params vulnParams
	params.Tollgate.Suppressed = []Suppressed{}
	if in.FailOn != model.SeverityUnknown {
		params.Tollgate.FailOn = in.FailOn.String()
	}
	if in.Scan != nil {
		params.Tollgate.Status = string(in.Scan.Status)
		for _, f := range in.Scan.Suppressed() {
			s := Suppressed{ID: f.RuleID, Package: f.Extra["package"], Installed: f.Extra["installed"], Kind: f.Suppression.Kind, Reason: f.Suppression.Reason}
			if !f.Suppression.Expires.IsZero() {
				s.Expires = f.Suppression.Expires.Format("2006-01-02")
			}
			params.Tollgate.Suppressed = append(params.Tollgate.Suppressed, s)
		}
	}
	if p.Invocation.Parameters, err = toAny(params); err != nil {
		return nil, err
	}
	p.Invocation.URI, p.Invocation.BuilderID = in.Repository, in.BuilderID
	return json.MarshalIndent(p, "", "  ")
}

// BlockingVulns reads a verified vuln predicate and lists the vulnerabilities at or above failOn
// that no live suppression recorded by the scan covers. A predicate whose result is not a trivy
// report is an error: verification fails closed on what it cannot read.
func BlockingVulns(predicate json.RawMessage, failOn model.Severity, now time.Time) ([]string, error) {
	var p struct {
		Invocation struct {
			Parameters json.RawMessage `json:"parameters"`
		} `json:"invocation"`
		Scanner struct {
			Result json.RawMessage `json:"result"`
		} `json:"scanner"`
	}
	if err := json.Unmarshal(predicate, &p); err != nil {
		return nil, fmt.Errorf("unreadable vuln predicate: %v", err)
	}
	if len(p.Scanner.Result) == 0 || string(p.Scanner.Result) == "null" {
		return nil, errors.New("the vuln predicate carries no scan result")
	}
	r, err := readTrivyReport(p.Scanner.Result)
	if err != nil {
		return nil, fmt.Errorf("the vuln predicate's result: %v", err)
	}
	var params vulnParams
	if len(p.Invocation.Parameters) > 0 && string(p.Invocation.Parameters) != "null" {
		if err := json.Unmarshal(p.Invocation.Parameters, &params); err != nil {
			return nil, fmt.Errorf("the vuln predicate's parameters: %v", err)
		}
	}
	live := map[string]bool{}
	for _, s := range params.Tollgate.Suppressed {
		if s.Expires != "" {
			exp, err := time.Parse("2006-01-02", s.Expires)
			if err != nil || !now.Before(exp.AddDate(0, 0, 1)) {
				continue // expired (or unreadable): no longer applies
			}
		}
		live[s.ID+"\x00"+s.Package+"\x00"+s.Installed] = true
		live[s.ID+"\x00"+s.Package+"\x00"] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, res := range r.Results {
		for _, v := range res.Vulnerabilities {
			sev, _ := model.ParseSeverity(v.Severity)
			if sev < failOn || failOn == model.SeverityUnknown {
				continue
			}
			if live[v.VulnerabilityID+"\x00"+v.PkgName+"\x00"+v.InstalledVersion] || live[v.VulnerabilityID+"\x00"+v.PkgName+"\x00"] {
				continue
			}
			d := fmt.Sprintf("%s in %s %s (%s)", v.VulnerabilityID, v.PkgName, v.InstalledVersion, sev)
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// DetectSBOM names the predicate type of an SBOM file's content: spdxjson or cyclonedx.
func DetectSBOM(b []byte) (string, error) {
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		BOMFormat   string `json:"bomFormat"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("not a JSON SBOM: %v", err)
	}
	switch {
	case strings.HasPrefix(doc.SPDXVersion, "SPDX-"):
		return TypeSPDX, nil
	case doc.BOMFormat == "CycloneDX":
		return TypeCycloneDX, nil
	}
	return "", errors.New("neither an SPDX JSON document nor a CycloneDX JSON BOM")
}
