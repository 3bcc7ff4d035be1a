package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// docsURL is where every Tollgate rule is documented; the anchor is the lower-cased rule ID.
const docsURL = "https://github.com/tollgate-dev/tollgate/blob/main/docs/rules.md"

// rule is one check, registered kube-score style: metadata plus a check function.
type rule struct {
	model.Rule
	// Example is a Dockerfile snippet that triggers the rule (for docs/rules.md).
	Example string
	// source says who defines the rule: "tollgate" or "buildkit".
	source string
	check  func(df *dockerfile, opts *Options) []hit
}

// hit is one place a rule fired.
type hit struct {
	line     int    // the line the finding points at
	anchor   int    // the instruction's first line, where an inline ignore applies; 0 = line
	msg      string // what is wrong here, in one sentence
	resource string // image reference or stage, when useful for ignores
	// atMost caps the rule's severity for this hit when the evidence is weaker (0 = no cap).
	atMost model.Severity
	// atLeast raises the rule's severity for this hit when the file itself asks for more
	// (`# check=error=true`); 0 = no floor.
	atLeast model.Severity
}

// newRule fills the URL of a Tollgate rule from its ID.
func newRule(id, name string, sev model.Severity, summary, fix, example string, check func(*dockerfile, *Options) []hit) rule {
	return rule{
		Rule:    model.Rule{ID: id, Name: name, Severity: sev, Summary: summary, Fix: fix, URL: docsURL + "#" + strings.ToLower(id)},
		Example: example,
		source:  "tollgate",
		check:   check,
	}
}

// allRules is the registry: Tollgate's rules in ID order, then BuildKit's. Each group of rules
// lives in its own file.
func allRules() []rule {
	var rs []rule
	rs = append(rs, baseImageRules()...)
	rs = append(rs, userRules()...)
	rs = append(rs, addRules()...)
	rs = append(rs, runRules()...)
	rs = append(rs, packageRules()...)
	rs = append(rs, secretRules()...)
	rs = append(rs, contextRules()...)
	rs = append(rs, healthRules()...)
	rs = append(rs, metaRules()...)
	// Tollgate's rules in ID order (a group's file may add an ID past the next group's first),
	// then BuildKit's.
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	return append(rs, buildkitRules()...)
}

// effectiveRules applies the config's rule settings: severity overrides and disabled rules.
// An unknown rule ID is a config error naming the ID.
func effectiveRules(opts Options) ([]rule, error) {
	rs := allRules()
	byID := map[string]int{}
	for i, r := range rs {
		byID[strings.ToUpper(r.ID)] = i
	}
	ids := make([]string, 0, len(opts.Rules))
	for id := range opts.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids) // report the same unknown ID first every time
	disabled := map[int]bool{}
	for _, id := range ids {
		i, ok := byID[strings.ToUpper(strings.TrimSpace(id))]
		if !ok {
			return nil, &model.InputError{File: opts.ConfigFile, Err: fmt.Errorf("lint.rules: unknown rule ID %q (see docs/rules.md for the list)", id)}
		}
		s := opts.Rules[id]
		if s.Disabled {
			disabled[i] = true
		}
		if s.Severity != model.SeverityUnknown {
			rs[i].Severity = s.Severity
		}
	}
	out := rs[:0]
	for i, r := range rs {
		if !disabled[i] {
			out = append(out, r)
		}
	}
	return out, nil
}

// knownRuleID reports whether id names a rule (case-insensitive), for inline ignores.
func knownRuleID(id string) bool {
	for _, r := range allRules() {
		if strings.EqualFold(r.ID, id) {
			return true
		}
	}
	return false
}
