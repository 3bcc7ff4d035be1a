package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestTablePlainAndColour(t *testing.T) {
	plain := render(t, "table", fixtureRun())
	if bytes.ContainsRune(plain, 0x1b) {
		t.Error("New(table) wrote ANSI escapes; files and pipes must stay plain")
	}
	var b bytes.Buffer
	if err := NewTable(true).Write(&b, fixtureRun()); err != nil {
		t.Fatal(err)
	}
	coloured := b.String()
	if !strings.Contains(coloured, ansiRed+"FAIL"+ansiReset) || !strings.Contains(coloured, ansiGreen+"PASS"+ansiReset) {
		t.Errorf("colour table lacks coloured statuses:\n%s", coloured)
	}
	// Colour changes nothing but the escapes: columns stay aligned.
	if stripped := ansi.ReplaceAllString(coloured, ""); stripped != string(plain) {
		t.Errorf("colour output without escapes differs from plain output:\n%s\n---\n%s", stripped, plain)
	}
}

func TestTableContent(t *testing.T) {
	out := string(render(t, "table", fixtureRun()))
	lines := strings.Split(out, "\n")
	// The header and every finding row start their MESSAGE column at the same offset.
	col := strings.Index(lines[0], "MESSAGE")
	if col < 0 {
		t.Fatalf("no header: %q", lines[0])
	}
	for _, l := range lines[1:6] {
		if len(l) < col || l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("row not aligned with MESSAGE at %d: %q", col, l)
		}
	}
	for _, want := range []string{
		"lint   HIGH*",
		"[suppressed (config): legacy build, tracked in JIRA-12, expires 2026-12-31]",
		"validate  ERROR    kubeconform v0.8.0",
		"skipped: no signing key configured",
		"Result: FAIL (exit 3): 3 of 4 stages failed, 2 blocking findings",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, " \n") {
		t.Error("table has trailing spaces")
	}

	clean := string(render(t, "table", cleanRun()))
	if !strings.HasPrefix(clean, "No findings.\n") || !strings.Contains(clean, "Result: PASS (exit 0): 2 of 2 stages passed in 1.5s") {
		t.Errorf("clean table:\n%s", clean)
	}
}

func TestTableStripsControlCharacters(t *testing.T) {
	run := &model.Run{Stages: []*model.StageResult{{Stage: "scan", Status: model.StatusError,
		Error: "trivy: \x1b]0;owned\x07crashed\nwith\tdetail",
		Findings: []model.Finding{
			{RuleID: "X", Message: "evil \x1b[2J clear", Location: model.Location{File: "f"}},
			{RuleID: "Y", Message: strings.Repeat("long ", 100), Location: model.Location{File: "f"}},
		}}}}
	out := string(render(t, "table", run))
	if strings.ContainsAny(out, "\x1b\x07\t") {
		t.Errorf("control characters reached the terminal: %q", out)
	}
	if !strings.Contains(out, "trivy: ]0;ownedcrashed with detail") {
		t.Errorf("error text mangled: %q", out)
	}
	// Long messages are cut to keep one finding per line.
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "long long") && (!strings.HasSuffix(l, "…") || len([]rune(l)) > 200) {
			t.Errorf("long message not cut: %q", l)
		}
	}
}

// INFO findings never dominate the table: an informational rule that fires in every file is one
// row with a count, while blocking, higher and single INFO findings keep their rows, and the
// machine-readable reports keep every finding.
func TestTableFoldsInfo(t *testing.T) {
	run := infoRun()
	out := string(render(t, "table", run))
	rows := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "lint ") && !strings.Contains(l, "tollgate-lint") {
			rows++
		}
	}
	// TG-DF-030, TG-DF-036, StageNameCasing, and one row each for TG-DF-060 and UndefinedVar.
	if rows != 5 {
		t.Errorf("%d finding rows, want 5:\n%s", rows, out)
	}
	for _, want := range []string{
		"src/svc00/Dockerfile:1 +11 more",
		"the final stage has no HEALTHCHECK  [12 INFO findings folded into one row; the JSON, SARIF and JUnit reports list each]",
		"Usage of undefined variable '$GOPATH' (messages vary)  [2 INFO findings folded",
		"Stage name 'Build' should be lowercase\n",
		"lint   HIGH*",
		"17 findings (1 blocking)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Folded rows come after the findings that matter.
	if strings.Index(out, "TG-DF-060") < strings.Index(out, "TG-DF-036") {
		t.Errorf("folded INFO rows before the other findings:\n%s", out)
	}
	// A blocking INFO finding (fail-on INFO) is never folded away.
	for i := range run.Stages[0].Findings[:3] {
		run.Stages[0].Findings[i].Blocking = true
	}
	out = string(render(t, "table", run))
	if n := strings.Count(out, "INFO*"); n != 3 || !strings.Contains(out, "+8 more") {
		t.Errorf("blocking INFO findings folded (%d INFO* rows):\n%s", n, out)
	}
	// Every finding is still in the machine-readable reports.
	for _, format := range []string{"json", "sarif", "junit"} {
		if n := strings.Count(string(render(t, format, infoRun())), "the final stage has no HEALTHCHECK"); n < 12 {
			t.Errorf("%s lists %d of the 12 TG-DF-060 findings", format, n)
		}
	}
}
