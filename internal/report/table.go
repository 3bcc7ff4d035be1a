package report

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// tableWriter renders the terminal view: one aligned table of findings, a summary line per
// stage, then the overall result. Plain text unless color is set (by a caller that knows it
// writes to a terminal).
type tableWriter struct {
	color bool
}

// NewTable returns the terminal table writer, with ANSI colours when color is true. New("table")
// never colours, so files and pipes stay plain.
func NewTable(color bool) Writer { return tableWriter{color: color} }

func (tableWriter) FileName() string { return "report.txt" }

// ANSI colours; every code has the same length so coloured columns stay aligned.
const (
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiMagenta = "\x1b[35m"
	ansiDefault = "\x1b[39m"
	ansiReset   = "\x1b[0m"
)

func (t tableWriter) paint(code, s string) string {
	if !t.color {
		return s
	}
	return code + s + ansiReset
}

func (t tableWriter) Write(w io.Writer, run *model.Run) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	rows, blockingRows := 0, 0
	header := func() {
		if rows == 0 {
			// Painted like the cells below it, so escape lengths match down the column.
			fmt.Fprintf(tw, "STAGE\t%s\tRULE\tLOCATION\tMESSAGE\n", t.paint(ansiDefault, "SEVERITY"))
		}
		rows++
	}
	for _, s := range run.Stages {
		if s == nil {
			continue
		}
		active, suppressed := split(s)
		shown, folded := foldInfo(active)
		for _, f := range append(shown, suppressed...) {
			header()
			sev := f.Severity.String()
			note := ""
			switch {
			case f.Suppression != nil:
				note = "  [" + suppressionText(f.Suppression) + "]"
			case f.Blocking:
				sev += "*"
				blockingRows++
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Stage, t.paint(severityColor(f), sev),
				cmp.Or(f.RuleID, "-"), cmp.Or(oneLine(where(f.Location), 80), "-"), oneLine(f.Message, 120)+note)
		}
		for _, g := range folded {
			header()
			f := g[0]
			more := fmt.Sprintf(" +%d more", len(g)-1)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Stage, t.paint(severityColor(f), f.Severity.String()),
				cmp.Or(f.RuleID, "-"), oneLine(cmp.Or(where(f.Location), "-"), 80-len(more))+more,
				oneLine(foldedText(g), 120)+fmt.Sprintf("  [%d %s findings folded into one row; the JSON, SARIF and JUnit reports list each]", len(g), f.Severity))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case rows == 0:
		b.WriteString("No findings.\n")
	case blockingRows > 0:
		b.WriteString("* blocks the gate\n")
	}
	b.WriteString("\n")

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	failed, ran, blocking, cached := 0, 0, 0, 0
	for _, s := range run.Stages {
		if s == nil {
			continue
		}
		c, bl, sup := countActive(s)
		blocking += bl
		if s.Status != model.StatusSkipped {
			ran++
		}
		if s.Status == model.StatusFail || s.Status == model.StatusError {
			failed++
		}
		took := humanDuration(s.Duration)
		if s.Cached {
			cached++
			took += " (cached)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Stage, t.paint(statusColor(s.Status), statusWord(s.Status)),
			cmp.Or(toolLabel(s.Tool), "-"), took, stageLine(s, c, bl, sup))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := t.paint(ansiGreen, "PASS")
	if !run.Passed() {
		verdict = t.paint(ansiRed, "FAIL")
	}
	switch {
	case run.Problem() != "":
		fmt.Fprintf(&b, "\nResult: %s (exit %d): %s", verdict, run.ExitCode(), run.Problem())
	case failed > 0:
		fmt.Fprintf(&b, "\nResult: %s (exit %d): %d of %d stages failed, %s", verdict, run.ExitCode(), failed, ran, plural(blocking, "blocking finding"))
	default:
		fmt.Fprintf(&b, "\nResult: %s (exit %d): %d of %d stages passed", verdict, run.ExitCode(), ran, ran)
	}
	if run.Duration > 0 {
		fmt.Fprintf(&b, " in %s", run.Duration.Round(100*time.Millisecond))
	}
	if cached > 0 {
		fmt.Fprintf(&b, " (%d from the result cache)", cached)
	}
	// Say which stages did not run, and why, in the summary line itself.
	if sk := run.Skipped(); len(sk) > 0 && run.Problem() == "" {
		fmt.Fprintf(&b, "; skipped: %s", oneLine(strings.Join(sk, ", "), 400))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// foldInfo keeps the table readable when one informational rule fires everywhere (a missing
// HEALTHCHECK in every Dockerfile of a repository): non-blocking INFO (and unknown-severity)
// findings of a rule that fired more than once become one group, shown as one row after the
// stage's other findings. Everything else, and every blocking finding, keeps its own row.
func foldInfo(active []model.Finding) (shown []model.Finding, folded [][]model.Finding) {
	foldable := func(f model.Finding) bool { return f.Severity <= model.SeverityInfo && !f.Blocking }
	count := map[string]int{}
	for _, f := range active {
		if foldable(f) {
			count[f.RuleID]++
		}
	}
	index := map[string]int{}
	for _, f := range active {
		if !foldable(f) || count[f.RuleID] < 2 {
			shown = append(shown, f)
			continue
		}
		i, ok := index[f.RuleID]
		if !ok {
			i = len(folded)
			index[f.RuleID] = i
			folded = append(folded, nil)
		}
		folded[i] = append(folded[i], f)
	}
	return shown, folded
}

// foldedText is the message of a folded group: the first one, marked when the others differ.
func foldedText(g []model.Finding) string {
	for _, f := range g[1:] {
		if f.Message != g[0].Message {
			return g[0].Message + " (messages vary)"
		}
	}
	return g[0].Message
}

// stageLine says what a stage found, or why it did not finish.
func stageLine(s *model.StageResult, c severityCounts, blocking, suppressed int) string {
	switch s.Status {
	case model.StatusError:
		return oneLine(cmp.Or(s.Error, "stage failed"), 160)
	case model.StatusSkipped:
		return "skipped: " + oneLine(cmp.Or(s.Error, s.Summary, "no reason given"), 160)
	}
	var parts []string
	if total := c.total(); total == 0 {
		parts = append(parts, "no findings")
	} else {
		parts = append(parts, plural(total, "finding"))
		if blocking > 0 {
			parts[0] += fmt.Sprintf(" (%d blocking)", blocking)
		}
	}
	if suppressed > 0 {
		parts = append(parts, fmt.Sprintf("%d suppressed", suppressed))
	}
	line := strings.Join(parts, ", ")
	if s.Status == model.StatusFail && s.Summary != "" {
		line += ": " + oneLine(s.Summary, 160)
	}
	return line
}

func statusColor(s model.Status) string {
	switch s {
	case model.StatusPass:
		return ansiGreen
	case model.StatusFail:
		return ansiRed
	case model.StatusError:
		return ansiMagenta
	case model.StatusSkipped:
		return ansiYellow
	default:
		return ansiDefault
	}
}

func severityColor(f model.Finding) string {
	switch {
	case f.Suppression != nil:
		return ansiDefault
	case f.Severity >= model.SeverityHigh:
		return ansiRed
	case f.Severity == model.SeverityMedium:
		return ansiYellow
	default:
		return ansiDefault
	}
}
