package report

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// sortedFindings returns a copy of fs in report order: file, line, rule, then the rest of the
// location and the message, so every format lists findings the same way on every run.
func sortedFindings(fs []model.Finding) []model.Finding {
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b model.Finding) int {
		return cmp.Or(
			cmp.Compare(a.Location.File, b.Location.File),
			cmp.Compare(a.Location.Line, b.Location.Line),
			cmp.Compare(a.RuleID, b.RuleID),
			cmp.Compare(a.Location.Column, b.Location.Column),
			cmp.Compare(a.Location.Resource, b.Location.Resource),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return out
}

// split returns a stage's active and suppressed findings, each in report order.
func split(s *model.StageResult) (active, suppressed []model.Finding) {
	for _, f := range sortedFindings(s.Findings) {
		if f.Suppression != nil {
			suppressed = append(suppressed, f)
		} else {
			active = append(active, f)
		}
	}
	return active, suppressed
}

// severityCounts counts a stage's active findings by severity.
type severityCounts [model.SeverityCritical + 1]int

func countActive(s *model.StageResult) (c severityCounts, blocking, suppressed int) {
	for _, f := range s.Findings {
		if f.Suppression != nil {
			suppressed++
			continue
		}
		sev := f.Severity
		if sev < model.SeverityUnknown || sev > model.SeverityCritical {
			sev = model.SeverityUnknown
		}
		c[sev]++
		if f.Blocking {
			blocking++
		}
	}
	return c, blocking, suppressed
}

func (c severityCounts) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// where renders a finding's location for people: file:line, the resource, or both.
func where(l model.Location) string {
	var file string
	switch {
	case l.File != "" && l.Line > 0:
		file = fmt.Sprintf("%s:%d", filepath.ToSlash(l.File), l.Line)
	case l.File != "":
		file = filepath.ToSlash(l.File)
	}
	switch {
	case file != "" && l.Resource != "":
		return file + " (" + l.Resource + ")"
	case file != "":
		return file
	default:
		return l.Resource
	}
}

// toolLabel is "name version", or what is known of it.
func toolLabel(t model.Tool) string {
	return strings.TrimSpace(t.Name + " " + t.Version)
}

// humanDuration rounds a duration for people: milliseconds below a second, else tenths.
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// oneLine folds whitespace runs (newlines included) into single spaces, drops other control
// characters (tool output may carry terminal escapes) and cuts s to max runes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if max > 0 && len(s) > max {
		r := []rune(s)
		if len(r) > max {
			return string(r[:max-1]) + "…"
		}
	}
	return s
}

// plural returns "1 finding" or "2 findings".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// statusWord is the upper-case status used in text formats.
func statusWord(s model.Status) string {
	if s == "" {
		return "UNKNOWN"
	}
	return strings.ToUpper(string(s))
}
