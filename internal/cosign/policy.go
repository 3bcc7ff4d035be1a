package cosign

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Requirement is one attestation an image must carry.
type Requirement struct {
	// Name as configured (for messages): sbom, vuln, slsaprovenance1...
	Name string
	// Types are the predicate types that satisfy it (sbom: SPDX or CycloneDX).
	Types []PredicateType
	// MaxAge bounds the newest matching attestation's age (0: any age).
	MaxAge time.Duration
	// FailOn (vuln): the lowest severity that blocks unless the scan suppressed it.
	FailOn model.Severity
	// Line in tollgate.yaml, for messages.
	Line int
}

// Policy is what verification demands beyond a trusted signature on every manifest.
type Policy struct {
	Requirements []Requirement
}

// Types are the distinct predicate types the policy needs to read, in a stable order.
func (p Policy) Types() []PredicateType {
	var out []PredicateType
	seen := map[string]bool{}
	for _, r := range p.Requirements {
		for _, t := range r.Types {
			if !seen[t.Name] {
				seen[t.Name] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// PolicyFrom reads verify.require. An unknown type, a bad age or a fail-on on anything but vuln
// is a *model.InputError naming the file and line.
func PolicyFrom(c *config.Config) (Policy, error) {
	var p Policy
	for _, r := range c.Verify.Require {
		req, err := ParseRequirement(r.Type, r.MaxAge, r.FailOn)
		if err != nil {
			return Policy{}, &model.InputError{File: c.Path, Line: r.Line, Err: fmt.Errorf("verify.require: %w", err)}
		}
		req.Line = r.Line
		p.Requirements = append(p.Requirements, req)
	}
	return p, nil
}

// ParseRequirement builds one requirement from its type name, max age and vuln threshold.
func ParseRequirement(typ, maxAge string, failOn model.Severity) (Requirement, error) {
	req := Requirement{Name: strings.TrimSpace(typ)}
	switch strings.ToLower(req.Name) {
	case "":
		return req, fmt.Errorf("a requirement needs a type (one of %s)", strings.Join(RequirementNames(), ", "))
	case "sbom":
		spdx, _ := lookupType(TypeSPDX)
		cdx, _ := lookupType(TypeCycloneDX)
		req.Types = []PredicateType{spdx, cdx}
	default:
		t, ok := lookupType(req.Name)
		if !ok {
			return req, fmt.Errorf("unknown attestation type %q (want one of %s)", req.Name, strings.Join(RequirementNames(), ", "))
		}
		req.Types = []PredicateType{t}
	}
	if strings.TrimSpace(maxAge) != "" {
		d, err := ParseAge(maxAge)
		if err != nil {
			return req, fmt.Errorf("%s: max-age: %w", req.Name, err)
		}
		req.MaxAge = d
	}
	isVuln := len(req.Types) == 1 && req.Types[0].Name == TypeVuln
	switch {
	case failOn != model.SeverityUnknown && !isVuln:
		return req, fmt.Errorf("%s: fail-on only applies to the vuln attestation", req.Name)
	case isVuln && failOn == model.SeverityUnknown:
		req.FailOn = model.SeverityHigh
	default:
		req.FailOn = failOn
	}
	return req, nil
}

// RequirementNames lists the type names verify.require accepts.
func RequirementNames() []string {
	names := []string{"sbom"}
	for _, t := range predicateTypes {
		names = append(names, t.Name)
		names = append(names, t.Aliases...)
	}
	return names
}

// ParseAge reads a Go duration (48h) or a number of days (7d).
func ParseAge(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a number of days like 7d", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration (e.g. 7d or 48h)", v)
	}
	return d, nil
}

// Evaluate judges the verified statements of one subject against one requirement and returns
// the failed requirement as a finding (nil when it holds). statements are keyed by cosign type.
func (r Requirement) Evaluate(s *Subject, statements map[string][]Statement, now time.Time) *model.Finding {
	var newest *Statement
	var newestAt time.Time
	for _, t := range r.Types {
		for i := range statements[t.Name] {
			st := &statements[t.Name][i]
			if !st.Covers(s.Digest) {
				continue
			}
			at := st.Time()
			if newest == nil || at.After(newestAt) {
				newest, newestAt = st, at
			}
		}
	}
	where := s.Describe()
	if newest == nil {
		return finding(RuleMissingAttestation, s, fmt.Sprintf("%s has no %s attestation signed by the trusted signer", where, r.label()),
			map[string]string{"requirement": r.Name})
	}
	if r.MaxAge > 0 {
		switch age := now.Sub(newestAt); {
		case newestAt.IsZero():
			return finding(RuleStaleAttestation, s, fmt.Sprintf("the %s attestation of %s records no time, so its age (max %s) cannot be checked", r.label(), where, formatAge(r.MaxAge)),
				map[string]string{"requirement": r.Name})
		case age > r.MaxAge:
			return finding(RuleStaleAttestation, s, fmt.Sprintf("the newest %s attestation of %s is %s old (made %s), older than the allowed %s",
				r.label(), where, formatAge(age), newestAt.UTC().Format(time.RFC3339), formatAge(r.MaxAge)),
				map[string]string{"requirement": r.Name, "attested_at": newestAt.UTC().Format(time.RFC3339)})
		}
	}
	if r.FailOn != model.SeverityUnknown && newest.PredicateType == mustType(TypeVuln).URI {
		blocking, err := BlockingVulns(newest.Predicate, r.FailOn, now)
		if err != nil {
			return finding(RuleBlockingVulns, s, fmt.Sprintf("the vuln attestation of %s cannot be judged, so it does not pass: %v", where, err),
				map[string]string{"requirement": r.Name})
		}
		if len(blocking) > 0 {
			shown := blocking
			if len(shown) > 5 {
				shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(blocking)-5))
			}
			return finding(RuleBlockingVulns, s, fmt.Sprintf("the vuln attestation of %s lists %d vulnerabilit%s at or above %s that the scan did not suppress: %s",
				where, len(blocking), plural(len(blocking), "y", "ies"), r.FailOn, strings.Join(shown, "; ")),
				map[string]string{"requirement": r.Name, "blocking": strconv.Itoa(len(blocking))})
		}
	}
	return nil
}

func (r Requirement) label() string {
	if len(r.Types) == 1 && !strings.EqualFold(r.Name, r.Types[0].Name) {
		return fmt.Sprintf("%s (%s)", r.Name, r.Types[0].Name)
	}
	if len(r.Types) > 1 {
		names := make([]string, len(r.Types))
		for i, t := range r.Types {
			names[i] = t.Name
		}
		return fmt.Sprintf("%s (%s)", r.Name, strings.Join(names, " or "))
	}
	return r.Name
}

func mustType(name string) PredicateType {
	t, ok := lookupType(name)
	if !ok {
		panic("unknown predicate type " + name)
	}
	return t
}

func formatAge(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return d.Round(time.Minute).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// finding builds a verification finding with the rule's metadata.
func finding(ruleID string, s *Subject, msg string, extra map[string]string) *model.Finding {
	f := &model.Finding{RuleID: ruleID, Message: msg, Location: model.Location{Resource: s.Ref()}, Extra: extra}
	for _, r := range Rules() {
		if r.ID == ruleID {
			f.Severity, f.Title, f.Fix, f.URL = r.Severity, ruleTitles[ruleID], r.Fix, r.URL
		}
	}
	if f.Extra == nil {
		f.Extra = map[string]string{}
	}
	f.Extra["digest"] = s.Digest
	if s.Input != "" {
		f.Extra["image"] = s.Input
	}
	return f
}
