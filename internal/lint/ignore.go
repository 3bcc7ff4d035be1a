package lint

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// An inline ignore sits in the comment block directly above an instruction:
//
//	# tollgate:ignore=TG-DF-001,TG-DF-002 base is pinned by the release job
//	FROM alpine
//
// The reason is required. A malformed comment does not suppress anything and is itself a
// finding (TG-DF-090): a typo in a comment should point at the comment, not stop the stage.
var ignoreRe = regexp.MustCompile(`^#\s*tollgate:ignore(?:=(\S*))?\s*(.*)$`)

type ignoreComment struct {
	line   int
	ids    []string
	reason string
	bad    string // why the comment is unusable; "" when it is fine
}

type ignoreSet struct {
	df    *dockerfile
	byLin map[int]ignoreComment
}

// parseIgnores finds every tollgate:ignore comment in the file.
func parseIgnores(df *dockerfile) ignoreSet {
	set := ignoreSet{df: df, byLin: map[int]ignoreComment{}}
	for i, l := range df.lines {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "#") || !strings.Contains(t, "tollgate:ignore") {
			continue
		}
		c := ignoreComment{line: i + 1}
		m := ignoreRe.FindStringSubmatch(t)
		switch {
		case m == nil || m[1] == "":
			c.bad = "malformed ignore comment: want \"# tollgate:ignore=RULE[,RULE] reason\""
		default:
			for _, id := range strings.Split(m[1], ",") {
				id = strings.TrimSpace(id)
				if id == "" {
					continue
				}
				if !knownRuleID(id) {
					c.bad = fmt.Sprintf("ignore comment names unknown rule %q", id)
				}
				c.ids = append(c.ids, id)
			}
			c.reason = strings.TrimSpace(m[2])
			if c.bad == "" && c.reason == "" {
				c.bad = fmt.Sprintf("ignore comment for %s has no reason; say why after the rule IDs", strings.Join(c.ids, ","))
			}
		}
		set.byLin[c.line] = c
	}
	return set
}

// match returns the suppression for rule id at an instruction starting on line, if the comment
// block directly above it holds a valid ignore for that rule.
func (s ignoreSet) match(line int, id string) *model.Suppression {
	for l := line - 1; l >= 1; l-- {
		t := strings.TrimSpace(s.df.lines[l-1])
		if !strings.HasPrefix(t, "#") {
			return nil
		}
		c, ok := s.byLin[l]
		if !ok || c.bad != "" {
			continue
		}
		for _, want := range c.ids {
			if strings.EqualFold(want, id) {
				return &model.Suppression{Kind: "inline", Reason: c.reason}
			}
		}
	}
	return nil
}

func metaRules() []rule {
	return []rule{
		newRule("TG-DF-090", "invalid-ignore-comment", model.SeverityLow,
			"A tollgate:ignore comment without a reason, with an unknown rule ID or malformed does not suppress anything.",
			"Write `# tollgate:ignore=RULE[,RULE] reason` on the line directly above the instruction, naming existing rule IDs and saying why.",
			"# tollgate:ignore=TG-DF-001\nFROM alpine",
			checkIgnoreComments),
	}
}

func checkIgnoreComments(df *dockerfile, _ *Options) []hit {
	var hs []hit
	set := parseIgnores(df)
	for l := 1; l <= len(df.lines); l++ {
		if c, ok := set.byLin[l]; ok && c.bad != "" {
			hs = append(hs, hit{line: l, msg: c.bad})
		}
	}
	return hs
}
