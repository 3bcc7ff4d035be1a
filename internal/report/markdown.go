package report

import (
	"cmp"
	"fmt"
	"io"
	"regexp"
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
	if !run.Passed() {
		return false
	}
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
	if n := cachedCount(run); n > 0 {
		lines = append(lines, fmt.Sprintf("%d from the result cache (inputs unchanged since they last ran).", n))
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
	if n := cachedCount(run); n > 0 {
		facts = append(facts, fmt.Sprintf("%d from the result cache", n))
	}
	if run.Version != "" {
		facts = append(facts, "tollgate "+mdText(run.Version))
	}
	if p := run.Problem(); p != "" {
		facts = append([]string{"**" + mdText(p) + "**"}, facts...)
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
			statusEmoji(s.Status), mdCellText(s.Stage), mdCellText(cmp.Or(toolLabel(s.Tool), "-")),
			strings.Join(cells, " | "), mdTime(s)))
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
			lines = append(lines, "> "+mdLine(oneLine(cmp.Or(s.Error, "stage failed without an error message"), 2000)))
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
		lines = append(lines, mdLine(oneLine(s.Summary, 500)), "")
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

// Finding messages, fixes and tool errors are plain text in which `backticks` mark code, as in
// Tollgate's own rule texts. Markdown must show them as written: the code spans stay code spans
// (where CommonMark decodes nothing, so they are copied as they are), and everything else is
// escaped so that no character turns into markup, HTML, an entity or math.

// mdText renders plain text inside a Markdown line, outside a table.
func mdText(s string) string { return mdInline(s, false, false) }

// mdLine renders plain text that begins a line (a paragraph, or after "> ").
func mdLine(s string) string { return mdInline(s, false, true) }

// mdCellText renders plain text for a table cell: GFM splits a row at every unescaped pipe,
// inside code spans too, and a line break would end the row.
func mdCellText(s string) string { return mdInline(s, true, false) }

func mdInline(s string, inTable, lineStart bool) string {
	var b strings.Builder
	for i, sp := range splitCodeSpans(s) {
		switch {
		case !sp.code:
			b.WriteString(escapeMarkdownText(sp.text, lineStart && i == 0))
		case inTable && strings.Contains(sp.text, `\|`):
			// GFM cannot show a backslash right before a pipe inside a code span in a table
			// cell; show the span as text instead.
			b.WriteString(escapeMarkdownText(sp.text, false))
		default:
			code := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(sp.text)
			if inTable {
				code = strings.ReplaceAll(code, "|", `\|`)
			}
			b.WriteString(padCode(code))
		}
	}
	return b.String()
}

// span is a piece of text: a code span with its backtick fences, or plain text.
type span struct {
	text string
	code bool
}

// splitCodeSpans finds code spans the way CommonMark does: a run of n backticks opens one and
// the next run of exactly n backticks closes it; a run with no closer is plain text.
func splitCodeSpans(s string) []span {
	var out []span
	text := 0 // start of the pending plain text
	for i := 0; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		n := backticks(s, i)
		end := -1
		for j := i + n; j < len(s); {
			if s[j] != '`' {
				j++
				continue
			}
			m := backticks(s, j)
			if m == n {
				end = j + m
				break
			}
			j += m
		}
		if end < 0 {
			i += n // no closer: these backticks are plain text
			continue
		}
		if i > text {
			out = append(out, span{text: s[text:i]})
		}
		out = append(out, span{text: s[i:end], code: true})
		i, text = end, end
	}
	if text < len(s) {
		out = append(out, span{text: s[text:]})
	}
	return out
}

// padCode keeps a code span's content as written: CommonMark strips one space from each end
// of content that starts and ends with a space, so such content gets one more on each side.
func padCode(span string) string {
	n := backticks(span, 0)
	fence, content := span[:n], span[n:len(span)-n]
	if len(content) > 1 && content[0] == ' ' && content[len(content)-1] == ' ' && strings.Trim(content, " ") != "" {
		return fence + " " + content + " " + fence
	}
	return span
}

func backticks(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == '`' {
		n++
	}
	return n
}

// escapeMarkdownText escapes plain text: backslash escapes for the ASCII punctuation Markdown
// (and GitHub's math and strikethrough) would read as markup, entities for what would be HTML or
// an entity, <br> for line breaks. At the start of a line it also defuses block markers
// (headings, lists, quotes).
func escapeMarkdownText(s string, lineStart bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '`', '*', '_', '[', ']', '|', '~', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteString("<br>")
		case '\n':
			b.WriteString("<br>")
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	if lineStart {
		out = defuseBlockStart(out)
	}
	return out
}

// listMarkerRe is an ordered list marker at the start of a line: "1." or "1)".
var listMarkerRe = regexp.MustCompile(`^(\s*[0-9]{1,9})([.)])`)

// defuseBlockStart escapes a leading "#", "-", "+", "=" or "1." that would start a heading, a
// list or a setext heading underline when the text begins a line.
func defuseBlockStart(s string) string {
	t := strings.TrimLeft(s, " ")
	pad := s[:len(s)-len(t)]
	if t != "" && strings.ContainsRune("#-+=", rune(t[0])) {
		return pad + "\\" + t
	}
	return listMarkerRe.ReplaceAllString(s, "$1\\$2")
}

// mdCode puts a short value in a code span of a table cell when it can be, else escapes it as
// text.
func mdCode(s string) string {
	if s == "" {
		return "-"
	}
	if strings.ContainsAny(s, "`\r\n") || strings.Contains(s, `\|`) {
		return escapeMarkdownText(s, false) // a location's backticks are characters, not code marks
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
	c := mdCellText(cutRunes(strings.TrimSpace(msg), 500))
	if fix != "" {
		c += "<br>**Fix:** " + mdCellText(cutRunes(strings.TrimSpace(fix), 300))
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

// mdTime is a stage's time cell; a result read from the result cache says so.
func mdTime(s *model.StageResult) string {
	if s.Cached {
		return humanDuration(s.Duration) + " (cached)"
	}
	return humanDuration(s.Duration)
}

// cachedCount is the number of stage results read from the result cache.
func cachedCount(run *model.Run) int {
	n := 0
	for _, s := range run.Stages {
		if s != nil && s.Cached {
			n++
		}
	}
	return n
}
