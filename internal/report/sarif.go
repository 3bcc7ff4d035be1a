package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// sarifWriter renders SARIF 2.1.0 for GitHub code scanning and other SARIF viewers: one run per
// stage, so each tool keeps its own rules and results.
type sarifWriter struct{}

func (sarifWriter) FileName() string { return "tollgate.sarif" }

// suppressionNamespace seeds the name-based UUIDs of suppressions, so the same suppressed
// finding gets the same GUID on every run.
var suppressionNamespace = uuid.MustParse("5b0e7c3e-7d1f-4c55-9a55-2f1a7b7c0d11")

func (sarifWriter) Write(w io.Writer, run *model.Run) error {
	rep, err := sarifFromRun(run)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("encode sarif report: %w", err)
	}
	return nil
}

func sarifFromRun(run *model.Run) (*sarif.Report, error) {
	rep, err := sarif.New(sarif.Version210)
	if err != nil {
		return nil, fmt.Errorf("sarif report: %w", err)
	}
	for _, s := range run.Stages {
		// A skipped stage ran no tool. An empty run would tell code scanning that the tool
		// found nothing and close its open alerts, so a skipped stage gets no run at all.
		if s == nil || s.Status == model.StatusSkipped {
			continue
		}
		rep.AddRun(sarifRun(run, s))
	}
	return rep, nil
}

func sarifRun(run *model.Run, s *model.StageResult) *sarif.Run {
	name := s.Tool.Name
	if name == "" {
		name = "tollgate-" + s.Stage
	}
	driver := sarif.NewDriver(name)
	if s.Tool.Version != "" {
		driver.WithVersion(s.Tool.Version)
	}
	r := &sarif.Run{Tool: sarif.Tool{Driver: driver}, Results: []*sarif.Result{}}
	// Code scanning groups uploads by category; one per stage keeps stages that share a tool
	// (our own checks) from replacing each other's alerts.
	r.WithAutomationDetails(&sarif.RunAutomationDetails{ID: ptr("tollgate/" + s.Stage + "/")})
	props := sarif.NewPropertyBag()
	props.Add("stage", s.Stage)
	props.Add("status", string(s.Status))
	if s.Summary != "" {
		props.Add("summary", s.Summary)
	}
	if s.Cached {
		props.Add("cached", true)
	}
	r.AttachPropertyBag(props)

	for _, rule := range sarifRules(s) {
		driver.AddRule(rule)
	}
	for _, f := range sortedFindings(s.Findings) {
		r.AddResult(sarifResult(run, s, f))
	}

	inv := sarif.NewInvocation().WithExecutionSuccess(s.Status != model.StatusError)
	if s.Status == model.StatusError {
		msg := s.Error
		if msg == "" {
			msg = "stage failed without an error message"
		}
		n := sarif.NewNotification().WithLevel("error").WithTextMessage(msg)
		if s.ErrorKind != "" {
			n.PropertyBag = *sarif.NewPropertyBag()
			n.Add("errorKind", s.ErrorKind)
		}
		inv.WithToolExecutionNotifications([]*sarif.Notification{n})
	}
	r.AddInvocations(inv)
	return r
}

// sarifRules builds the rule descriptors: the stage's declared rules, plus any rule ID seen only
// in findings (tools such as trivy have no fixed rule list), in ID order.
func sarifRules(s *model.StageResult) []*sarif.ReportingDescriptor {
	rules := map[string]model.Rule{}
	for _, r := range s.Rules {
		if r.ID != "" {
			rules[r.ID] = r
		}
	}
	for _, f := range s.Findings {
		f.RuleID = sarifRuleID(s, f)
		r, declared := rules[f.RuleID]
		if declared && r.Summary != "" {
			continue
		}
		if !declared {
			r = model.Rule{ID: f.RuleID, Severity: f.Severity}
		}
		r.Severity = max(r.Severity, f.Severity)
		r.Summary = cmp.Or(r.Summary, f.Title)
		r.Fix = cmp.Or(r.Fix, f.Fix)
		r.URL = cmp.Or(r.URL, f.URL)
		rules[f.RuleID] = r
	}
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*sarif.ReportingDescriptor, 0, len(ids))
	for _, id := range ids {
		out = append(out, sarifRule(rules[id]))
	}
	return out
}

// sarifRuleID is the finding's rule, or the stage's name for a finding without one: every
// result needs a descriptor for its ruleIndex to point at.
func sarifRuleID(s *model.StageResult, f model.Finding) string {
	return cmp.Or(f.RuleID, s.Stage, "tollgate")
}

func sarifRule(r model.Rule) *sarif.ReportingDescriptor {
	short := cmp.Or(r.Summary, r.Name, r.ID)
	d := sarif.NewRule(r.ID).WithShortDescription(sarif.NewMultiformatMessageString(oneLine(short, 0)))
	if r.Name != "" {
		d.WithName(r.Name)
	}
	full := short
	help := short
	md := short
	if r.Fix != "" {
		full += " Fix: " + r.Fix
		help += "\n\nFix: " + r.Fix
		md += "\n\n**Fix:** " + r.Fix
	}
	if r.URL != "" {
		help += "\n\nMore: " + r.URL
		md += "\n\n[More information](" + r.URL + ")"
		d.WithHelpURI(r.URL)
	}
	d.WithFullDescription(sarif.NewMultiformatMessageString(full))
	d.WithHelp(sarif.NewMultiformatMessageString(help).WithMarkdown(md))
	d.WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(sarifLevel(r.Severity)))
	// The embedded PropertyBag is shadowed by the descriptor's own Properties field.
	d.Properties = sarif.Properties{
		"security-severity": securitySeverity(r.Severity),
		"severity":          r.Severity.String(),
		"tags":              []string{"security"},
	}
	return d
}

func sarifResult(run *model.Run, s *model.StageResult, f model.Finding) *sarif.Result {
	msg := f.Message
	if msg == "" {
		msg = cmp.Or(f.Title, f.RuleID, "finding")
	}
	res := sarif.NewRuleResult(sarifRuleID(s, f)).
		WithLevel(sarifLevel(f.Severity)).
		WithMessage(sarif.NewTextMessage(msg))
	if loc := sarifLocation(run, f.Location); loc != nil {
		res.AddLocation(loc)
	}
	props := sarif.NewPropertyBag()
	// Stage-specific detail first, so it can never overwrite the fields below.
	for k, v := range f.Extra {
		props.Add(k, v)
	}
	props.Add("severity", f.Severity.String())
	props.Add("blocking", f.Blocking)
	props.Add("stage", s.Stage)
	if f.Title != "" {
		props.Add("title", f.Title)
	}
	if f.Fix != "" {
		props.Add("fix", f.Fix)
	}
	if f.URL != "" {
		props.Add("url", f.URL)
	}
	res.AttachPropertyBag(props)

	if sp := f.Suppression; sp != nil {
		kind := "external"
		if sp.Kind == "inline" {
			kind = "inSource"
		}
		reason := cmp.Or(sp.Reason, "suppressed by "+sp.Kind)
		guid := uuid.NewSHA1(suppressionNamespace, []byte(strings.Join([]string{
			s.Stage, f.RuleID, f.Location.File, strconv.Itoa(f.Location.Line), f.Location.Resource, f.Message,
		}, "\x00"))).String()
		sup := sarif.NewSuppression(kind).
			WithStatus("accepted").
			WithJustifcation(reason).
			WithGuid(guid).
			// The library always writes "location"; an empty one says "not known" validly.
			WithLocation(sarif.NewLocation())
		sup.PropertyBag = *sarif.NewPropertyBag()
		sup.Add("tollgateKind", sp.Kind)
		if !sp.Expires.IsZero() {
			sup.Add("expires", sp.Expires.Format(time.DateOnly))
		}
		res.WithSuppression([]*sarif.Suppression{sup})
	}
	return res
}

// sarifLocation anchors a finding. Code scanning rejects a whole upload when any result lacks a
// physical location, so a finding about a resource with no file (an image, a package) uses the
// resource as its artifact, as trivy does for images, and also names it as a logical location.
func sarifLocation(run *model.Run, l model.Location) *sarif.Location {
	uri := artifactURI(run.Source, l.File)
	if uri == "" && l.Resource != "" {
		uri = resourceURI(l.Resource)
	}
	if uri == "" {
		return nil
	}
	pl := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(uri))
	if l.File != "" && l.Line > 0 {
		reg := sarif.NewRegion().WithStartLine(l.Line)
		if l.Column > 0 {
			reg.WithStartColumn(l.Column)
		}
		pl.WithRegion(reg)
	}
	loc := sarif.NewLocationWithPhysicalLocation(pl)
	if l.Resource != "" {
		loc.AddLogicalLocations(sarif.NewLogicalLocation().
			WithName(l.Resource).
			WithFullyQualifiedName(l.Resource).
			WithKind("resource"))
	}
	return loc
}

// artifactURI makes a file path a relative, forward-slash URI reference: relative to the
// project when the path is absolute and inside it, percent-encoded where needed.
func artifactURI(source, file string) string {
	if file == "" {
		return ""
	}
	if filepath.IsAbs(file) && source != "" {
		if rel, err := filepath.Rel(source, file); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			file = rel
		}
	}
	p := filepath.ToSlash(file)
	if !strings.HasPrefix(p, "/") {
		p = path.Clean(p)
	}
	if strings.HasPrefix(p, "/") {
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: p}).String()
}

// resourceURI turns a resource name (image ref, Kind/namespace/name) into a relative URI
// reference; url.URL escapes what must be and guards a first segment with a colon.
func resourceURI(res string) string {
	return (&url.URL{Path: strings.TrimLeft(res, "/")}).String()
}

// sarifLevel maps severities onto SARIF levels: HIGH and above are errors, MEDIUM warnings,
// the rest notes.
func sarifLevel(s model.Severity) string {
	switch {
	case s >= model.SeverityHigh:
		return "error"
	case s == model.SeverityMedium:
		return "warning"
	default:
		return "note"
	}
}

// securitySeverity is the CVSS-like score GitHub code scanning reads from a rule's properties
// to rank alerts (critical >= 9.0, high >= 7.0, medium >= 4.0, low > 0). GitHub reads it as a
// string holding a number, like CodeQL and trivy write it.
func securitySeverity(s model.Severity) string {
	switch s {
	case model.SeverityCritical:
		return "9.5"
	case model.SeverityHigh:
		return "8.0"
	case model.SeverityMedium:
		return "5.5"
	case model.SeverityLow:
		return "2.0"
	default:
		return "0.0"
	}
}

func ptr[T any](v T) *T { return &v }
