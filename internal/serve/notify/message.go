// Package notify decides which scan results are worth a message (first results and new
// findings at or above a severity, optionally only fixable ones) and delivers them: a generic
// JSON webhook with an HMAC-signed body, Slack-compatible incoming webhooks, and GitHub and
// GitLab issues. Deliveries go through the store's outbox, retried with backoff and recorded.
package notify

import (
	"fmt"
	"sort"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Message kinds.
const (
	KindFirst = "first" // the image's first result
	KindNew   = "new"   // findings that were not in the previous result
)

// Message is one notification about one image and one scan, stored in the outbox as JSON and
// rendered per target at delivery.
type Message struct {
	Image      string         `json:"image"`
	Repository string         `json:"repository"`
	Digest     string         `json:"digest"`
	Tags       []string       `json:"tags,omitempty"`
	Kind       string         `json:"kind"`
	ScanKind   string         `json:"scan_kind"` // scan or rescan
	DBVersion  string         `json:"db_version"`
	Counts     map[string]int `json:"counts"` // of the findings in this message
	Findings   []Vuln         `json:"findings"`
	URL        string         `json:"url,omitempty"` // the image's page on the service
	ScanID     int64          `json:"scan_id,omitempty"`
}

// Vuln is one finding in a message.
type Vuln struct {
	ID        string `json:"id"`
	Severity  string `json:"severity"`
	Package   string `json:"package"`
	Installed string `json:"installed"`
	Fixed     string `json:"fixed,omitempty"`
	Title     string `json:"title,omitempty"`
	URL       string `json:"url,omitempty"`
}

// Policy selects what is worth a message.
type Policy struct {
	MinSeverity model.Severity // default HIGH
	FixableOnly bool
}

// key identifies a finding across scans: the same CVE in the same package version and place.
func key(f model.Finding) string {
	return f.RuleID + "\x00" + f.Location.Resource + "\x00" + f.Extra["target"] + "\x00" + f.Location.File
}

// Select returns the findings to report: all of cur on a first result (prev nil), else those
// not in prev; then only those at or above the policy's severity (and fixable, if asked), once
// each, most severe first.
func Select(p Policy, prev, cur []model.Finding, first bool) []model.Finding {
	min := p.MinSeverity
	if min == model.SeverityUnknown {
		min = model.SeverityHigh
	}
	old := map[string]bool{}
	if !first {
		for _, f := range prev {
			old[key(f)] = true
		}
	}
	var out []model.Finding
	seen := map[string]bool{}
	for _, f := range cur {
		k := key(f)
		if old[k] || seen[k] || f.Suppression != nil || f.Severity < min {
			continue
		}
		if p.FixableOnly && f.Extra["fixed"] == "" {
			continue
		}
		seen[k] = true
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		return out[i].RuleID < out[j].RuleID
	})
	return out
}

// VulnOf turns a finding into a message line.
func VulnOf(f model.Finding) Vuln {
	pkg := f.Extra["package"]
	if pkg == "" {
		pkg = f.Location.Resource
	}
	return Vuln{ID: f.RuleID, Severity: f.Severity.String(), Package: pkg, Installed: f.Extra["installed"], Fixed: f.Extra["fixed"], Title: f.Title, URL: f.URL}
}

// IDs lists the distinct vulnerability IDs of a message, in order.
func (m Message) IDs() []string {
	var ids []string
	seen := map[string]bool{}
	for _, v := range m.Findings {
		if !seen[v.ID] {
			seen[v.ID] = true
			ids = append(ids, v.ID)
		}
	}
	return ids
}

// Title is a one-line summary used by issue titles and chat messages.
func (m Message) Title() string {
	n := len(m.IDs())
	what := "vulnerabilities"
	if n == 1 {
		what = "vulnerability"
	}
	if m.Kind == KindFirst {
		return fmt.Sprintf("%s: %d %s at or above threshold in first scan", m.Image, n, what)
	}
	return fmt.Sprintf("%s: %d new %s (%s)", m.Image, n, what, joinMax(m.IDs(), 3))
}

func joinMax(ids []string, max int) string {
	out := ""
	for i, id := range ids {
		if i == max {
			return out + fmt.Sprintf(" and %d more", len(ids)-max)
		}
		if i > 0 {
			out += ", "
		}
		out += id
	}
	return out
}
