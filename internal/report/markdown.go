package report

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// maxSummaryBytes is GitHub's limit for one step's $GITHUB_STEP_SUMMARY (1 MiB); a larger
// summary is dropped whole, so the writer truncates below it.
const maxSummaryBytes = 1 << 20

// maxFindingsPerStage caps the findings listed per failing stage; the rest are counted.
const maxFindingsPerStage = 50

// markdownWriter renders a summary for $GITHUB_STEP_SUMMARY or a merge-request comment: a
// verdict, a table of stages, then the blocking findings of each failing stage. A clean run
// gets a few lines only.
type markdownWriter struct {
	// limit is the size cap in bytes; zero means maxSummaryBytes.
	limit int
}

func (markdownWriter) FileName() string { return "summary.md" }

func (m markdownWriter) Write(w io.Writer, run *model.Run) error {
	limit := m.limit
	if limit <= 0 {
		limit = maxSummaryBytes
	}
	var lines []string
	if isClean(run) {
		lines = markdownShort(run)
	} else {
		lines = markdownFull(run)
	}
	_, err := io.WriteString(w, fitLines(lines, limit))
	return err
}

// isClean is true when every stage that ran passed and nothing active was found.
func isClean(run *model.Run) bool {
	for _, s := range run.Stages {
		if s == nil {
			continue
		}
		if s.Status == model.StatusFail || s.Status == model.StatusError {
			return false
		}
		if len(s.Active()) > 0 {
			return false
		}
	}
	return true
}

func markdownShort(run *model.Run) []string {
	var passed, skipped []string
	suppressed := 0
	for _, s := range run.Stages {
		if s == nil {
			continue
		}
		suppressed += len(s.Suppressed())
		if s.Status == model.StatusSkipped {
			skip := mdText(s.Stage)
			if why := cmp.Or(s.Error, s.Summary); why != "" {
				skip += " (" + mdText(oneLine(why, 200)) + ")"
			}
			skipped = append(skipped, skip)
			continue
		}
		passed = append(passed, mdText(s.Stage))
	}
	lines := []string{"## ✅ Tollgate: PASS", ""}
	took := ""
	if run.Duration > 0 {
		took = " in " + humanDuration(run.Duration)
	}
	switch len(passed) {
	case 0:
		lines = append(lines, "No stage ran.")
	case 1:
		lines = append(lines, fmt.Sprintf("Stage %s passed with no findings%s.", passed[0], took))
	default:
		lines = append(lines, fmt.Sprintf("All %d stages passed with no findings%s: %s.",
			len(passed), took, strings.Join(passed, ", ")))
	}
	if len(skipped) > 0 {
		lines = append(lines, "Skipped: "+strings.Join(skipped, ", ")+".")
	}
	if suppressed > 0 {
		lines = append(lines, plural(suppressed, "suppressed finding")+" (accepted risks; see the JSON report).")
	}
	return append(lines, "")
}

func markdownFull(run *model.Run) []string {
	verdict := "## ✅ Tollgate: PASS"
	if !run.Passed() {
		verdict = "## ❌ Tollgate: FAIL"
	}
	ran, failed, blocking, active, suppressed := 0, 0, 0, 0, 0
	for _, s := range run.Stages {
		if s == nil {
			continue
		}
		c, b, sup := countActive(s)
		blocking += b
		active += c.total()
		suppressed += sup
		if s.Status != model.StatusSkipped {
			ran++
		}
		if s.Status == model.StatusFail || s.Status == model.StatusError {
			failed++
		}
	}
	facts := []string{fmt.Sprintf("%d of %d stages failed", failed, ran)}
	facts = append(facts, plural(blocking, "blocking finding"))
	if nb := active - blocking; nb > 0 {
		facts = append(facts, fmt.Sprintf("%d non-blocking", nb))
	}
	if suppressed > 0 {
		facts = append(facts, fmt.Sprintf("%d suppressed", suppressed))
	}
	if run.Duration > 0 {
		facts = append(facts, humanDuration(run.Duration))
	}
	if run.Version != "" {
		facts = append(facts, "tollgate "+mdText(run.Version))
	}
	lines := []string{verdict, "", strings.Join(facts, " · "), "",
		"| | Stage | Tool | Critical | High | Medium | Low | Info | Suppressed | Time |",
		"|---|---|---|--:|--:|--:|--:|--:|--:|--:|",
	}
	for _, s := range run.Stages {
		if s == nil {
			continue
		}
		c, _, sup := countActive(s)
		counts := []int{c[model.SeverityCritical], c[model.SeverityHigh], c[model.SeverityMedium], c[model.SeverityLow],
			c[model.SeverityInfo] + c[model.SeverityUnknown], sup}
		cells := make([]string, len(counts))
		for i, n := range counts {
			cells[i] = strconv.Itoa(n)
			// A stage that did not finish found nothing we can count; zeros would read as clean.
			if n == 0 && (s.Status == model.StatusError || s.Status == model.StatusSkipped) {
				cells[i] = "-"
			}
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %s | %s | %s |",
			statusEmoji(s.Status), mdText(s.Stage), mdText(cmp.Or(toolLabel(s.Tool), "-")),
			strings.Join(cells, " | "), humanDuration(s.Duration)))
	}
	var skipped []string
	for _, s := range run.Stages {
		if s != nil && s.Status == model.StatusSkipped {
			skipped = append(skipped, mdText(s.Stage)+" ("+mdText(oneLine(cmp.Or(s.Error, s.Summary, "no reason given"), 200))+")")
		}
	}
	if len(skipped) > 0 {
		lines = append(lines, "", "Skipped: "+strings.Join(skipped, ", ")+".")
	}

	for _, s := range run.Stages {
		if s == nil {
			continue
		}
		switch s.Status {
		case model.StatusError:
			lines = append(lines, "", fmt.Sprintf("### %s %s: %s", statusEmoji(s.Status), mdText(s.Stage), errorHeading(s.ErrorKind)), "")
			lines = append(lines, "> "+mdText(oneLine(cmp.Or(s.Error, "stage failed without an error message"), 2000)))
		case model.StatusFail:
			lines = append(lines, markdownFailing(s)...)
		}
	}
	return append(lines, "")
}

// errorHeading names an error with its exit-code class, which a runner that cannot exit 2 or 3
// (the Dagger module) has no other way to show: "tool error (exit 3)".
func errorHeading(kind string) string {
	switch kind {
	case model.ErrKindInput:
		return fmt.Sprintf("input error (exit %d)", model.ExitUsage)
	case model.ErrKindTool:
		return fmt.Sprintf("tool error (exit %d)", model.ExitTool)
	}
	return "error"
}

func markdownFailing(s *model.StageResult) []string {
	active, _ := split(s)
	var blocking []model.Finding
	for _, f := range active {
		if f.Blocking {
			blocking = append(blocking, f)
		}
	}
	lines := []string{"", fmt.Sprintf("### %s %s: %s", statusEmoji(s.Status), mdText(s.Stage), plural(len(blocking), "blocking finding")), ""}
	if s.Summary != "" {
		lines = append(lines, mdText(oneLine(s.Summary, 500)), "")
	}
	if len(blocking) == 0 {
		return lines
	}
	lines = append(lines, "| Severity | Rule | Location | Message |", "|---|---|---|---|")
	for i, f := range blocking {
		if i == maxFindingsPerStage {
			break
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %s | %s |",
			f.Severity, mdRule(f), mdCode(where(f.Location)), mdCell(f.Message, f.Fix)))
	}
	if n := len(blocking) - maxFindingsPerStage; n > 0 {
		lines = append(lines, "", fmt.Sprintf("…and %d more blocking findings in %s; see the full report.", n, mdText(s.Stage)))
	}
	return lines
}

// fitLines joins lines. When they exceed limit bytes it keeps whole lines and ends with a
// notice, so the summary is never dropped for size and never ends mid-line or mid-character.
func fitLines(lines []string, limit int) string {
	const notice = "\n> ⚠️ Summary truncated to fit the 1 MiB step summary limit; see the full reports (tollgate.json, tollgate.sarif, junit.xml).\n"
	full := strings.Join(lines, "\n")
	if len(full) <= limit {
		return full
	}
	var b strings.Builder
	for _, l := range lines {
		if b.Len()+len(l)+1+len(notice) > limit {
			break
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(notice)
	return b.String()
}

func statusEmoji(s model.Status) string {
	switch s {
	case model.StatusPass:
		return "✅"
	case model.StatusFail:
		return "❌"
	case model.StatusError:
		return "💥"
	case model.StatusSkipped:
		return "⏭️"
	default:
		return "❔"
	}
}

// mdText escapes text for a Markdown table cell or line: pipes would end the cell, raw HTML
// would render, and a newline would end the table row.
func mdText(s string) string {
	r := strings.NewReplacer(
		"\\", "\\\\",
		"|", "\\|",
		"<", "&lt;",
		">", "&gt;",
		"\r\n", "<br>",
		"\n", "<br>",
		"\r", "<br>",
	)
	return r.Replace(s)
}

// mdCode puts a short value in a code span when it can be, else escapes it as text.
func mdCode(s string) string {
	if s == "" {
		return "-"
	}
	if strings.ContainsAny(s, "`\r\n") {
		return mdText(s)
	}
	return "`" + strings.ReplaceAll(s, "|", "\\|") + "`"
}

// mdRule is the rule ID, linked to its documentation when the URL is safe to embed.
func mdRule(f model.Finding) string {
	id := mdCode(f.RuleID)
	if f.URL != "" && (strings.HasPrefix(f.URL, "https://") || strings.HasPrefix(f.URL, "http://")) &&
		!strings.ContainsAny(f.URL, " \t\r\n()<>|`[]") {
		return "[" + id + "](" + f.URL + ")"
	}
	return id
}

// mdCell is a finding's message (cut to keep rows readable) with its fix on a second line.
func mdCell(msg, fix string) string {
	c := mdText(cutRunes(strings.TrimSpace(msg), 500))
	if fix != "" {
		c += "<br>**Fix:** " + mdText(cutRunes(strings.TrimSpace(fix), 300))
	}
	return c
}

func cutRunes(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}
