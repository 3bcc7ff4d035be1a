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
	pipeShellRe = regexp.MustCompile(`\b(curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:/usr)?(?:/local)?(?:/bin/)?(sh|bash|zsh|ash|dash|ksh|python[0-9.]*|perl|ruby|node|pwsh|powershell)\b`)
	// an interpreter running downloaded code: `sh -c "$(curl ...)"`, `bash <(wget -O- ...)`.
	subShellRe = regexp.MustCompile("\\b(?:sh|bash|zsh|ash|dash|ksh)\\b[^;|&\\n]*?(?:\\$\\(|<\\(|`)\\s*(curl|wget)\\b")
	// PowerShell's pipe-to-shell: `iwr https://x | iex`, `Invoke-RestMethod ... | Invoke-Expression`,
	// `(New-Object Net.WebClient).DownloadString('...') | iex`. PowerShell is case-insensitive.
	psPipeRe = regexp.MustCompile(`(?i)\b(iwr|irm|invoke-webrequest|invoke-restmethod|downloadstring)\b[^|;\n]*\|\s*(?:&\s*)?(iex|invoke-expression)\b`)
	// ... and the same as an argument: `iex ((New-Object Net.WebClient).DownloadString('...'))`,
	// `Invoke-Expression (Invoke-WebRequest ...).Content`.
	psSubRe = regexp.MustCompile(`(?i)\b(?:iex|invoke-expression)\b[\s(&]*(?:\[[^\]]*\]\s*)?\(+\s*(?:new-object\s+(?:system\.)?net\.webclient\s*\)\s*\.\s*)?(iwr|irm|invoke-webrequest|invoke-restmethod|downloadstring)\b`)
	sudoRe  = regexp.MustCompile(`(?:^|[\s;&|(])sudo(?:\s|$)`)
)

// runRules check what RUN executes. Remote code in any stage can poison the final image, so
// they apply to every stage, and to ONBUILD triggers, which run in every build FROM the image.
func runRules() []rule {
	return []rule{
		newRule("TG-DF-030", "pipe-to-shell", model.SeverityHigh,
			"Piping a download straight into a shell (or PowerShell's `iwr ... | iex`) runs whatever the server (or anyone in between) sends, unverified.",
			"Download to a file, verify its checksum or signature (`sha256sum -c`), then run it; or install from a package manager.",
			"FROM alpine:3.20\nRUN curl -fsSL https://get.example.com/install.sh | sh",
			checkPipeToShell),
		newRule("TG-DF-036", "download-unverified", model.SeverityMedium,
			"A file downloaded in RUN (`curl -o`, `curl ... > file`, `wget`, `Invoke-WebRequest -OutFile`, or a download unpacked with tar) "+
				"goes into the image as whatever the server sent; nothing in that RUN checks a checksum or signature (`sha256sum -c`, `gpg --verify`, `cosign verify-blob`...). "+
				"Less severe than piping into a shell, since the file is not run on the spot. A check in a later RUN of the stage that names the file counts; "+
				"keys, signatures, checksum files and package source lists (`*.gpg`, `*.asc`, `/etc/apt/...`) are what checks use, and are not reported.",
			"Verify the download in the same RUN: `echo \"<sha256>  file\" | sha256sum -c -` (or `gpg --verify`, `cosign verify-blob`), or use `ADD --checksum=sha256:<digest> <url> <dest>`.",
			"FROM alpine:3.20\nRUN curl -fsSL https://example.com/jq-linux64 > /usr/bin/jq && chmod +x /usr/bin/jq",
			checkDownloads),
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

// eachRun calls fn for every RUN of every stage, ONBUILD RUN triggers included.
func eachRun(df *dockerfile, fn func(c command, sc script) []hit) []hit {
	var hs []hit
	for _, s := range df.stages {
		for _, c := range s.all {
			if c.name == "run" {
				hs = append(hs, fn(c, runScript(df, c))...)
			}
		}
	}
	return hs
}

// pipeToShell finds a download piped into an interpreter; at is the downloader's offset.
func pipeToShell(text string) (at int, msg string, ok bool) {
	for _, re := range []*regexp.Regexp{pipeShellRe, subShellRe} {
		if m := re.FindStringSubmatchIndex(text); m != nil {
			return m[2], fmt.Sprintf("pipes a %s download into an interpreter without verifying it", text[m[2]:m[3]]), true
		}
	}
	if m := psPipeRe.FindStringSubmatchIndex(text); m != nil {
		return m[2], fmt.Sprintf("pipes a PowerShell download (%s) into %s without verifying it", text[m[2]:m[3]], text[m[4]:m[5]]), true
	}
	if m := psSubRe.FindStringSubmatchIndex(text); m != nil {
		return m[0], fmt.Sprintf("runs a PowerShell download (%s) with Invoke-Expression without verifying it", text[m[2]:m[3]]), true
	}
	return 0, "", false
}

func checkPipeToShell(df *dockerfile, _ *Options) []hit {
	return eachRun(df, func(c command, sc script) []hit {
		at, msg, ok := pipeToShell(sc.text)
		if !ok {
			return nil
		}
		return []hit{{line: sc.lineAt(at), anchor: c.start, msg: c.label() + " " + msg + c.note()}}
	})
}
