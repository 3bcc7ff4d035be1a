package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Report is the part of trivy's JSON report (schema 2) that Tollgate reads.
type Report struct {
	SchemaVersion int    `json:"SchemaVersion"`
	ArtifactName  string `json:"ArtifactName"`
	Metadata      struct {
		OS *struct {
			Family string `json:"Family"`
			Name   string `json:"Name"`
		} `json:"OS"`
		ImageID     string   `json:"ImageID"`
		RepoDigests []string `json:"RepoDigests"`
	} `json:"Metadata"`
	Results []Result `json:"Results"`
}

// Result is one scanned target (the OS, a Go binary, the Node.js packages...).
type Result struct {
	Target          string          `json:"Target"`
	Class           string          `json:"Class"`
	Type            string          `json:"Type"`
	Vulnerabilities []Vulnerability `json:"Vulnerabilities"`
}

// Vulnerability is one detected vulnerability in one package.
type Vulnerability struct {
	VulnerabilityID string `json:"VulnerabilityID"`
	PkgID           string `json:"PkgID"`
	PkgName         string `json:"PkgName"`
	PkgPath         string `json:"PkgPath"`
	PkgIdentifier   struct {
		PURL string `json:"PURL"`
	} `json:"PkgIdentifier"`
	InstalledVersion string `json:"InstalledVersion"`
	FixedVersion     string `json:"FixedVersion"`
	Status           string `json:"Status"`
	Severity         string `json:"Severity"`
	SeveritySource   string `json:"SeveritySource"`
	Title            string `json:"Title"`
	Description      string `json:"Description"`
	PrimaryURL       string `json:"PrimaryURL"`
}

// ParseReport decodes trivy's JSON report. Output that is not a schema-2 report is a tool
// failure (*model.ToolError): the stage must fail closed, never pass on garbage.
func ParseReport(data []byte) (*Report, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &model.ToolError{Tool: "trivy", Err: errors.New("empty JSON report")}
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, &model.ToolError{Tool: "trivy", Err: fmt.Errorf("unreadable JSON report: %w", err)}
	}
	if r.SchemaVersion != 2 {
		return nil, &model.ToolError{Tool: "trivy", Err: fmt.Errorf("JSON report has schema version %d, want 2", r.SchemaVersion)}
	}
	for _, res := range r.Results {
		for _, v := range res.Vulnerabilities {
			if v.VulnerabilityID == "" || v.PkgName == "" {
				return nil, &model.ToolError{Tool: "trivy", Err: fmt.Errorf("JSON report: vulnerability without ID or package in %q", res.Target)}
			}
		}
	}
	return &r, nil
}

// Parse turns trivy's JSON report into findings, most severe first.
func Parse(data []byte) ([]model.Finding, error) {
	r, err := ParseReport(data)
	if err != nil {
		return nil, err
	}
	return r.Findings(), nil
}

// Findings maps every vulnerability to a finding: rule = CVE ID, resource = package@version.
func (r *Report) Findings() []model.Finding {
	out := []model.Finding{}
	for _, res := range r.Results {
		for _, v := range res.Vulnerabilities {
			out = append(out, finding(res, v))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		if a.Location.Resource != b.Location.Resource {
			return a.Location.Resource < b.Location.Resource
		}
		return a.Extra["target"] < b.Extra["target"]
	})
	return out
}

func finding(res Result, v Vulnerability) model.Finding {
	sev, err := model.ParseSeverity(v.Severity)
	if err != nil {
		sev = model.SeverityUnknown
	}
	resource := v.PkgName + "@" + v.InstalledVersion
	msg := fmt.Sprintf("%s %s is affected by %s", v.PkgName, v.InstalledVersion, v.VulnerabilityID)
	fix := ""
	if v.FixedVersion != "" {
		msg += "; fixed in " + v.FixedVersion
		fix = fmt.Sprintf("upgrade %s to %s", v.PkgName, v.FixedVersion)
	} else {
		msg += "; no fixed version yet"
	}
	msg += " (" + res.Target + ")"
	file := v.PkgPath
	if file == "" && res.Class == "lang-pkgs" && res.Type == "gobinary" {
		file = res.Target // the binary the module is compiled into
	}
	extra := map[string]string{
		"package":   v.PkgName,
		"installed": v.InstalledVersion,
		"fixed":     v.FixedVersion,
		"target":    res.Target,
		"class":     res.Class,
		"type":      res.Type,
	}
	for k, val := range map[string]string{"status": v.Status, "purl": v.PkgIdentifier.PURL, "pkg_path": v.PkgPath, "severity_source": v.SeveritySource} {
		if val != "" {
			extra[k] = val
		}
	}
	return model.Finding{
		Stage:    Name,
		RuleID:   v.VulnerabilityID,
		Severity: sev,
		Title:    title(v),
		Message:  msg,
		Location: model.Location{File: file, Resource: resource},
		Fix:      fix,
		URL:      v.PrimaryURL,
		Extra:    extra,
	}
}

// title is trivy's title, else the first sentence of the description (NVD records, which
// supply most OS package CVEs, have no title).
func title(v Vulnerability) string {
	if t := strings.TrimSpace(v.Title); t != "" {
		return t
	}
	d := strings.TrimSpace(v.Description)
	d = strings.TrimPrefix(d, "Issue summary: ")
	if i := strings.Index(d, ". "); i > 0 {
		d = d[:i]
	}
	d = strings.TrimSuffix(strings.Join(strings.Fields(d), " "), ".")
	if len(d) > 120 {
		d = d[:117] + "..."
	}
	if d == "" {
		return v.VulnerabilityID
	}
	return d
}
