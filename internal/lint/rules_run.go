package lint

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

var (
	// curl/wget output piped into an interpreter: `curl -fsSL https://x | sh`.
	pipeShellRe = regexp.MustCompile(`\b(curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:/usr)?(?:/local)?(?:/bin/)?(sh|bash|zsh|ash|dash|ksh|python[0-9.]*|perl|ruby|node)\b`)
	// an interpreter running downloaded code: `sh -c "$(curl ...)"`, `bash <(wget -O- ...)`.
	subShellRe = regexp.MustCompile("\\b(?:sh|bash|zsh|ash|dash|ksh)\\b[^;|&\\n]*?(?:\\$\\(|<\\(|`)\\s*(curl|wget)\\b")
	sudoRe     = regexp.MustCompile(`(?:^|[\s;&|(])sudo(?:\s|$)`)
)

// runRules check what RUN executes. Remote code in any stage can poison the final image, so
// they apply to every stage.
func runRules() []rule {
	return []rule{
		newRule("TG-DF-030", "pipe-to-shell", model.SeverityHigh,
			"Piping a download straight into a shell runs whatever the server (or anyone in between) sends, unverified.",
			"Download to a file, verify its checksum or signature (`sha256sum -c`), then run it; or install from a package manager.",
			"FROM alpine:3.20\nRUN curl -fsSL https://get.example.com/install.sh | sh",
			checkPipeToShell),
	}
}

// script is a RUN instruction's text with continuations joined, and where each line starts.
type script struct {
	text   string
	starts []int // starts[i] is the offset of line first+i in text
	first  int
}

func runScript(df *dockerfile, c command) script {
	sc := script{first: c.start}
	var b strings.Builder
	esc := string(df.escape)
	for l := c.start; l <= c.end && l <= len(df.lines); l++ {
		sc.starts = append(sc.starts, b.Len())
		line := strings.TrimRight(codePart(df.lines[l-1]), " \t\r")
		// A continued line joins the next one; any other line break (heredoc bodies) ends a
		// shell command.
		if cont, ok := strings.CutSuffix(line, esc); ok {
			b.WriteString(cont)
			b.WriteByte(' ')
		} else {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	sc.text = b.String()
	return sc
}

// lineAt maps an offset in the joined text back to a Dockerfile line.
func (s script) lineAt(off int) int {
	i := sort.Search(len(s.starts), func(i int) bool { return s.starts[i] > off }) - 1
	return s.first + max(i, 0)
}

// codePart drops comment lines inside a multi-line instruction.
func codePart(line string) string {
	if strings.HasPrefix(strings.TrimSpace(line), "#") {
		return ""
	}
	return line
}

func checkPipeToShell(df *dockerfile, _ *Options) []hit {
	var hs []hit
	for _, s := range df.stages {
		for _, c := range s.commands {
			if c.name != "run" {
				continue
			}
			sc := runScript(df, c)
			for _, re := range []*regexp.Regexp{pipeShellRe, subShellRe} {
				if m := re.FindStringSubmatchIndex(sc.text); m != nil {
					tool := sc.text[m[2]:m[3]]
					hs = append(hs, hit{line: sc.lineAt(m[2]), anchor: c.start,
						msg: fmt.Sprintf("RUN pipes a %s download into an interpreter without verifying it", tool)})
					break
				}
			}
		}
	}
	return hs
}
