package report

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func renderMarkdown(t *testing.T, w markdownWriter, run *model.Run) string {
	t.Helper()
	var b bytes.Buffer
	if err := w.Write(&b, run); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestMarkdownShortWhenClean(t *testing.T) {
	for _, tc := range []struct {
		name  string
		run   *model.Run
		short bool
		want  []string
	}{
		{"clean", cleanRun(), true, []string{"## ✅ Tollgate: PASS", "All 2 stages passed with no findings in 1.5s: lint, validate.", "Skipped: sign (no signing key configured)."}},
		{"clean with a suppressed finding", func() *model.Run {
			r := cleanRun()
			r.Stages[0].Findings = []model.Finding{{RuleID: "TG9", Severity: model.SeverityHigh, Suppression: &model.Suppression{Kind: "config", Reason: "accepted"}}}
			return r
		}(), true, []string{"1 suppressed finding"}},
		{"one stage", &model.Run{Stages: []*model.StageResult{{Stage: "lint", Status: model.StatusPass}}}, true, []string{"Stage lint passed with no findings."}},
		{"passed with a non-blocking finding", func() *model.Run {
			r := cleanRun()
			r.Stages[1].Findings = []model.Finding{{RuleID: "KC1", Severity: model.SeverityLow, Message: "minor"}}
			return r
		}(), false, []string{"## ✅ Tollgate: PASS", "| ✅ | validate |", "1 non-blocking"}},
		{"failed", fixtureRun(), false, []string{"## ❌ Tollgate: FAIL", "### ❌ lint: 1 blocking finding", "### 💥 validate: tool error (exit 3)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := renderMarkdown(t, markdownWriter{}, tc.run)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if tc.short {
				if len(lines) < 3 || len(lines) > 5 || strings.Contains(out, "| Stage |") {
					t.Errorf("clean run summary is not short (%d lines):\n%s", len(lines), out)
				}
			} else if !strings.Contains(out, "| | Stage | Tool |") {
				t.Errorf("summary lacks the stage table:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("summary lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestMarkdownEscaping(t *testing.T) {
	for in, want := range map[string]string{
		"a | b":             `a \| b`,
		"line1\nline2":      "line1<br>line2",
		"crlf\r\nx":         "crlf<br>x",
		"<img src=x>":       "&lt;img src=x&gt;",
		"a & b":             "a &amp; b",
		"*not* _em_":        `\*not\* \_em\_`,
		"code `<x> | y`":    "code `<x> | y`",
		`back\slash`:        `back\\slash`,
		"plain text, fine.": "plain text, fine.",
	} {
		if got := mdText(in); got != want {
			t.Errorf("mdText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := mdCode("a|b"); got != "`a\\|b`" {
		t.Errorf("mdCode(a|b) = %q", got)
	}
	if got := mdCode("a`b"); got != "a\\`b" {
		t.Errorf("mdCode with a backtick = %q, want escaped text", got)
	}
	unsafe := model.Finding{RuleID: "R", URL: "https://x/y) [z](javascript:alert(1)"}
	if got := mdRule(unsafe); strings.Contains(got, "](") {
		t.Errorf("mdRule linked an unsafe URL: %q", got)
	}

	// Every row of every table has the same number of unescaped cell separators.
	out := renderMarkdown(t, markdownWriter{}, fixtureRun())
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "|") {
			continue
		}
		n := strings.Count(l, "|") - strings.Count(l, `\|`)
		if n != 11 && n != 5 {
			t.Errorf("table row has %d separators: %s", n, l)
		}
	}
}

func manyFindings(n int) *model.Run {
	fs := make([]model.Finding, n)
	for i := range fs {
		fs[i] = model.Finding{
			RuleID: fmt.Sprintf("CVE-2024-%05d", i), Severity: model.SeverityHigh, Blocking: true,
			Message:  strings.Repeat("ünïcödé message ", 20),
			Location: model.Location{Resource: "registry.local/app:1.0"},
		}
	}
	return &model.Run{Stages: []*model.StageResult{{Stage: "scan", Status: model.StatusFail, Tool: model.Tool{Name: "trivy"}, Findings: fs}}}
}

func TestMarkdownCapsFindingsPerStage(t *testing.T) {
	out := renderMarkdown(t, markdownWriter{}, manyFindings(120))
	if rows := strings.Count(out, "| HIGH |"); rows != maxFindingsPerStage {
		t.Errorf("%d finding rows, want %d", rows, maxFindingsPerStage)
	}
	if !strings.Contains(out, "…and 70 more blocking findings in scan") {
		t.Errorf("no 'and N more' line:\n%s", out[len(out)-300:])
	}
	if !strings.Contains(out, "### ❌ scan: 120 blocking findings") {
		t.Error("heading does not count every blocking finding")
	}
}

func TestMarkdownFitsStepSummaryLimit(t *testing.T) {
	// Many failing stages whose findings together pass 1 MiB.
	run := &model.Run{}
	for i := range 60 {
		st := manyFindings(60).Stages[0]
		st.Stage = fmt.Sprintf("scan-%02d", i)
		run.Stages = append(run.Stages, st)
	}
	full := renderMarkdown(t, markdownWriter{limit: 1 << 30}, run)
	if len(full) <= maxSummaryBytes {
		t.Fatalf("test run renders only %d bytes; it must exceed the limit", len(full))
	}
	for _, limit := range []int{0, 4096} {
		out := renderMarkdown(t, markdownWriter{limit: limit}, run)
		max := limit
		if max == 0 {
			max = maxSummaryBytes
		}
		if len(out) > max {
			t.Errorf("limit %d: summary is %d bytes", max, len(out))
		}
		if !utf8.ValidString(out) {
			t.Errorf("limit %d: truncation split a character", max)
		}
		if !strings.Contains(out, "Summary truncated") || !strings.HasSuffix(out, "\n") {
			t.Errorf("limit %d: no truncation notice at the end", max)
		}
		if !strings.HasPrefix(out, "## ❌ Tollgate: FAIL") || !strings.Contains(out, "| ❌ | scan-00 |") {
			t.Errorf("limit %d: verdict or stage table lost", max)
		}
		// Whole lines only: everything before the notice is a prefix of the full summary.
		body := out[:strings.LastIndex(out, "\n> ⚠️")]
		if !strings.HasPrefix(full, body) || !strings.HasSuffix(body, "\n") {
			t.Errorf("limit %d: truncation did not stop at a line boundary", max)
		}
	}
	// Under the limit nothing is cut.
	if out := renderMarkdown(t, markdownWriter{}, fixtureRun()); strings.Contains(out, "truncated") {
		t.Error("small summary was truncated")
	}
}

// Bug 8: Markdown must show what a finding says. Messages, fixes and errors go through a real
// CommonMark+GFM renderer (goldmark, raw HTML allowed as GitHub allows <br>), and the text a
// reader sees in each cell or line must be the original, with its `code spans` as code.
func TestMarkdownRendersWhatFindingsSay(t *testing.T) {
	messages := []string{
		"use `ADD --checksum=sha256:<digest> <url>` instead of ADD <url>",
		"a | b && c > d < e & f &lt; g &amp; h",
		"pipe in code: `curl -fsSL https://x | sh` end",
		"stray ` backtick, *stars*, _under_, [link](http://x), ~strike~, $math$ and <b>bold</b>",
		"backslash \\ and `C:\\path\\to\\` (a backslash does not escape the closing backtick)",
		"code `  spaced  ` keeps its spaces, ` one ` too",
		"two lines\nwith `code` on the second",
		"a code span with backslash-pipe `a\\|b` in a table",
		"<script>alert(1)</script> and `<script>`",
		"1. not a list item",
	}
	fixes := []string{
		"Use `ADD --checksum=sha256:<digest> <url> <dest>`, or download in a RUN step and verify the checksum.",
		"Run `apt-get update && apt-get install -y --no-install-recommends <pkgs>` | no pipes lost",
	}
	var fs []model.Finding
	for i, m := range messages {
		fs = append(fs, model.Finding{RuleID: fmt.Sprintf("R%d", i), Severity: model.SeverityHigh, Blocking: true,
			Message: m, Fix: fixes[i%len(fixes)], Location: model.Location{File: fmt.Sprintf("f%d|<x>`y`", i), Line: i + 1}})
	}
	run := &model.Run{Stages: []*model.StageResult{
		{Stage: "lint", Status: model.StatusFail, Summary: "# not a heading: `a|b` <c>", Findings: fs},
		{Stage: "validate", Status: model.StatusError, Error: "- not a list: `kubeconform -strict | x` failed <badly> & *now*"},
	}}
	src := renderMarkdown(t, markdownWriter{}, run)
	var out bytes.Buffer
	md := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))
	if err := md.Convert([]byte(src), &out); err != nil {
		t.Fatal(err)
	}
	rendered := out.String()

	// Findings table: one row per finding, four cells each, the message cell exactly the text.
	rows := regexp.MustCompile(`(?s)<tr>\s*(<td>.*?)</tr>`).FindAllStringSubmatch(rendered, -1)
	var findingRows [][]string
	for _, r := range rows {
		cells := regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(r[1], -1)
		if len(cells) == 4 {
			findingRows = append(findingRows, []string{cells[0][1], cells[1][1], cells[2][1], cells[3][1]})
		}
	}
	if len(findingRows) != len(messages) {
		t.Fatalf("%d finding rows with 4 cells, want %d (a pipe split a row?):\n%s\n%s", len(findingRows), len(messages), src, rendered)
	}
	for i, cells := range findingRows {
		want := messages[i] + "\n**Fix:** " + fixes[i%len(fixes)]
		if got := shown(cells[3]); got != want {
			t.Errorf("message cell shows\n  %q\nwant\n  %q\nmarkdown: %s", got, want, src)
		}
		if got, want := shown(cells[2]), fmt.Sprintf("f%d|<x>`y`:%d", i, i+1); got != want {
			t.Errorf("location cell shows %q, want %q", got, want)
		}
	}
	// Lines outside the table: the stage summary and the error quote stay paragraphs.
	for _, want := range []string{"<p>" + "# not a heading: <code>a|b</code> &lt;c&gt;" + "</p>",
		"<blockquote>\n<p>- not a list: <code>kubeconform -strict | x</code> failed &lt;badly&gt; &amp; *now*</p>"} {
		if !strings.Contains(rendered, want) {
			t.Errorf("rendered summary lacks %q:\n%s\n%s", want, src, rendered)
		}
	}
}

// shown is what a reader sees in rendered HTML: code as `code`, <br> as a line break,
// <strong> as **, entities decoded. Any other tag stays and fails the comparison.
func shown(h string) string {
	h = strings.NewReplacer("<code>", "`", "</code>", "`", "<br>", "\n", "<strong>", "**", "</strong>", "**").Replace(h)
	return html.UnescapeString(h)
}

func TestSplitCodeSpans(t *testing.T) {
	for in, want := range map[string][]span{
		"a `b` c":          {{"a ", false}, {"`b`", true}, {" c", false}},
		"``x `y` z`` w":    {{"``x `y` z``", true}, {" w", false}},
		"stray ` tick":     {{"stray ` tick", false}},
		"`a`` b":           {{"`a`` b", false}},
		"``a` b``":         {{"``a` b``", true}},
		"`one` and `two`":  {{"`one`", true}, {" and ", false}, {"`two`", true}},
		"no code at all":   {{"no code at all", false}},
		"```":              {{"```", false}},
		"x ``` y ``` ` z`": {{"x ", false}, {"``` y ```", true}, {" ", false}, {"` z`", true}},
	} {
		if got := splitCodeSpans(in); !slices.Equal(got, want) {
			t.Errorf("splitCodeSpans(%q) = %v, want %v", in, got, want)
		}
	}
}
