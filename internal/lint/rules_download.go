package lint

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// A download in RUN is "unverified" when it lands on disk (an output file, a redirect, or a
// pipe into tar/unzip/tee) and nothing in the same RUN checks a checksum or signature.

var (
	// verifyRes recognise a checksum or signature check anywhere in a RUN.
	verifyRes = []*regexp.Regexp{
		// sha256sum -c / --check, shasum -a 256 -c, md5sum -c ...
		regexp.MustCompile(`\b(?:sha(?:1|224|256|384|512)sum|shasum|b2sum|md5sum)\b[^;&|\n]*\s(?:-[a-zA-Z]*c[a-zA-Z]*|--check)\b`),
		// a digest computed and compared: [ "$(sha256sum f | cut -d' ' -f1)" = "$SHA" ]
		regexp.MustCompile(`\$\(\s*(?:sha(?:1|224|256|384|512)sum|shasum|b2sum|md5sum|openssl\s+(?:dgst|sha\d*))\b`),
		// ... or filtered: sha256sum f | grep -q "$SHA"
		regexp.MustCompile(`\b(?:sha(?:1|224|256|384|512)sum|shasum|b2sum|md5sum)\b[^;&\n]*\|\s*(?:grep|cut|awk|diff|cmp)\b`),
		regexp.MustCompile(`\bgpg2?\b[^;&|\n]*\s--verify\b`),
		regexp.MustCompile(`\bgpgv2?\b`),
		regexp.MustCompile(`\bcosign\s+verify(?:-blob|-attestation|-blob-attestation)?\b`),
		regexp.MustCompile(`\bminisign\b[^;&|\n]*\s-V\b`),
		regexp.MustCompile(`\bsignify(?:-openbsd)?\b[^;&|\n]*\s-[CV]\b`),
		regexp.MustCompile(`\bopenssl\s+dgst\b[^;&|\n]*\s-verify\b`),
		regexp.MustCompile(`\bslsa-verifier\s+verify`),
		regexp.MustCompile(`\bgh\s+attestation\s+verify\b`),
		regexp.MustCompile(`\brpm\s+(?:-K|--checksig)\b`),
		regexp.MustCompile(`(?i)\bget-filehash\b`),
		regexp.MustCompile(`(?i)\bcertutil\b[^;&|\n]*-hashfile\b`),
	}
	// psDownloadRes are PowerShell downloads that write a file.
	psDownloadRes = []*regexp.Regexp{
		regexp.MustCompile(`(?i)\b(invoke-webrequest|iwr|curl|wget)\b[^;|\n]*?\s-outfile\b`),
		regexp.MustCompile(`(?i)\.(downloadfile)\s*\(`),
		regexp.MustCompile(`(?i)\b(start-bitstransfer)\b`),
	}
	// runPrefixRe is the instruction keyword and its flags at the start of a RUN's text.
	runPrefixRe = regexp.MustCompile(`(?i)^\s*(?:onbuild\s+)?run\b(?:\s+--\S+)*`)
	assignRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

// curlArgOpts are curl's short options that take a value; in a cluster (-fsSLo file) the rest
// of the cluster, or the next word, is that value.
const curlArgOpts = "oAbcCdDeEFHKmPQrTtuUwxXyYz"

// wgetArgOpts are wget's short options that take a value ('O' is handled apart).
const wgetArgOpts = "oaiPBtTwUeQlARDIX"

// unpackers write what they read to disk; filters pass it on (to a redirect or a next pipe).
var (
	unpackers = map[string]bool{"tar": true, "bsdtar": true, "unzip": true, "cpio": true, "tee": true, "dd": true}
	filters   = map[string]bool{"gunzip": true, "gzip": true, "zcat": true, "xz": true, "unxz": true, "bzip2": true, "bunzip2": true, "zstd": true, "unzstd": true}
	shells    = map[string]bool{"sh": true, "bash": true, "zsh": true, "ash": true, "dash": true, "ksh": true, "python": true, "python3": true, "perl": true, "ruby": true, "node": true, "pwsh": true, "powershell": true}
	// prefixes may stand before the command word: `sudo curl`, `if curl`, `env X=1 wget`.
	prefixes = map[string]bool{"sudo": true, "env": true, "exec": true, "command": true, "time": true, "nice": true, "nohup": true,
		"!": true, "{": true, "if": true, "then": true, "else": true, "elif": true, "while": true, "until": true, "do": true, "xargs": true}
)

// shellCmd is one simple command of a RUN: its words and where it starts in the text.
type shellCmd struct {
	off   int
	words []string // quotes removed
	name  string   // command word's base name ("" when there is none)
	args  []string // words after the command word
}

// pipelines splits RUN text into pipelines of simple commands, at unquoted ; && || & newlines
// and parentheses (so `X=$(curl ...)` is a command of its own), and at | between commands.
func pipelines(text string) [][]shellCmd {
	var out [][]shellCmd
	var cur []shellCmd
	start := 0
	var single, double bool
	endCmd := func(i int) {
		cur = append(cur, newShellCmd(text[start:i], start))
	}
	endPipe := func() {
		var keep []shellCmd
		for _, c := range cur {
			if len(c.words) > 0 {
				keep = append(keep, c)
			}
		}
		if len(keep) > 0 {
			out = append(out, keep)
		}
		cur = nil
	}
	for i := 0; i < len(text); i++ {
		ch := text[i]
		switch {
		case single:
			single = ch != '\''
			continue
		case ch == '\\' && i+1 < len(text):
			i++
			continue
		case double:
			double = ch != '"'
			continue
		case ch == '\'':
			single = true
			continue
		case ch == '"':
			double = true
			continue
		}
		switch {
		case ch == '|' && i+1 < len(text) && text[i+1] == '|', ch == '&' && i+1 < len(text) && text[i+1] == '&':
			endCmd(i)
			endPipe()
			i++
			start = i + 1
		case ch == '&' && i > 0 && text[i-1] == '>', ch == '&' && i+1 < len(text) && text[i+1] == '>':
			// part of a redirect (>&2, &>file)
		case ch == '|':
			endCmd(i)
			start = i + 1
		case ch == ';' || ch == '\n' || ch == '&' || ch == '(' || ch == ')' || ch == '`':
			endCmd(i)
			endPipe()
			start = i + 1
		}
	}
	endCmd(len(text))
	endPipe()
	return out
}

func newShellCmd(s string, off int) shellCmd {
	c := shellCmd{off: off}
	for _, w := range strings.Fields(s) {
		c.words = append(c.words, strings.Trim(w, `"'`))
	}
	i := 0
	for i < len(c.words) {
		w := c.words[i]
		switch {
		case assignRe.MatchString(w), prefixes[w]:
			i++
		case i > 0 && strings.HasPrefix(w, "-") && prefixes[c.words[i-1]]:
			i++ // sudo -E, xargs -n1
		default:
			c.name = path.Base(strings.ToLower(w))
			c.args = c.words[i+1:]
			if j := strings.Index(s, strings.Fields(s)[i]); j >= 0 {
				c.off = off + j
			}
			return c
		}
	}
	return c
}

// download is one download that lands on disk.
type download struct {
	off  int
	tool string
	url  string
	dest string // " to FILE", " and unpacks it with tar", or ""
	file string // base name of the file written, when known: a later RUN may verify it
}

// downloads finds the downloads of a RUN that write to disk. Downloads piped into a shell are
// TG-DF-030's; output kept in a variable or piped into another program is not a file.
func downloads(text string) []download {
	var out []download
	for _, p := range pipelines(text) {
		for i, c := range p {
			var d download
			var to sink
			switch c.name {
			case "curl", "curl.exe":
				d.dest, to = curlOutput(c.args)
			case "wget", "wget.exe":
				d.dest, to = wgetOutput(c.args)
			default:
				continue
			}
			d.off, d.tool, d.url = c.off, strings.TrimSuffix(c.name, ".exe"), firstURL(c.args)
			if local(d.url) || to == discarded {
				continue
			}
			switch {
			case to == toFile && d.dest != "":
				d.file = baseName(strings.TrimPrefix(d.dest, " to "))
			case to == toFile:
				d.file = baseName(strings.SplitN(d.url, "?", 2)[0]) // -O, wget's default: the URL's name
			default:
				if r := redirect(c.args); r != "" {
					d.dest, d.file = " to "+r, baseName(r)
				} else if sink, file, ok := pipeSink(p[i+1:]); ok {
					d.dest, d.file = sink, file
				} else {
					continue
				}
			}
			out = append(out, d)
		}
	}
	for _, re := range psDownloadRes {
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			words := strings.Fields(text[m[0]:psEnd(text, m[0])])
			d := download{off: m[0], tool: text[m[2]:m[3]], url: firstURL(words)}
			for i, w := range words {
				if strings.EqualFold(w, "-OutFile") && i+1 < len(words) {
					f := strings.Trim(words[i+1], `"';`)
					d.dest, d.file = " to "+f, baseName(f)
				}
			}
			out = append(out, d)
		}
	}
	return out
}

// Keys, signatures, checksum files and package source lists are what a later check or the
// package manager verifies with, not payload: downloading them is not an unverified download.
var (
	verificationExts = []string{".gpg", ".asc", ".sig", ".pub", ".key", ".pem", ".sha256", ".sha512", ".sha256sum", ".sha512sum", ".list", ".sources", ".repo"}
	verificationDirs = []string{"/etc/apt/", "/usr/share/keyrings/", "/etc/pki/rpm-gpg/", "/etc/yum.repos.d/"}
)

func verificationMaterial(d download) bool {
	dest := strings.TrimPrefix(d.dest, " to ")
	dest, _, _ = strings.Cut(dest, " ")
	for _, dir := range verificationDirs {
		if strings.HasPrefix(dest, dir) {
			return true
		}
	}
	name := strings.ToLower(d.file)
	if name == "" && d.dest == "" {
		name = strings.ToLower(baseName(strings.SplitN(d.url, "?", 2)[0]))
	}
	for _, ext := range verificationExts {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return strings.Contains(name, "shasums") || strings.Contains(name, "checksums")
}

// baseName is the last element of a Unix or Windows path.
func baseName(p string) string {
	p = strings.Trim(p, `"'`)
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	if p == "" || strings.ContainsAny(p, "$%") {
		return "" // a variable: unknown at lint time
	}
	return p
}

// sink is where a downloader writes what it fetches.
type sink int

const (
	toFile sink = iota
	toStdout
	discarded // /dev/null, wget --spider
)

// outputTo classifies an output file argument.
func outputTo(v string) (string, sink) {
	switch v {
	case "-", "/dev/stdout":
		return "", toStdout
	case "/dev/null":
		return "", discarded
	}
	return " to " + v, toFile
}

// curlOutput reads where curl writes: a file (-o, -O, --output...) or stdout.
func curlOutput(args []string) (string, sink) {
	written := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-o" || a == "--output") && i+1 < len(args):
			return outputTo(args[i+1])
		case strings.HasPrefix(a, "--output="):
			return outputTo(strings.TrimPrefix(a, "--output="))
		case a == "-O" || a == "--remote-name" || a == "--remote-name-all":
			written = true
		case strings.HasPrefix(a, "--"):
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				ch := a[j]
				if ch == 'O' {
					written = true
					continue
				}
				if !strings.ContainsRune(curlArgOpts, rune(ch)) {
					continue
				}
				v := a[j+1:]
				if v == "" && i+1 < len(args) {
					i++
					v = args[i]
				}
				if ch == 'o' {
					return outputTo(v)
				}
				break
			}
		}
	}
	if written {
		return "", toFile
	}
	return "", toStdout
}

// wgetOutput reads where wget writes: a file (its default) or stdout (-O -).
func wgetOutput(args []string) (string, sink) {
	for _, a := range args {
		if a == "--spider" {
			return "", discarded // checks the URL, downloads nothing
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "--output-document="):
			return outputTo(strings.TrimPrefix(a, "--output-document="))
		case a == "--output-document" && i+1 < len(args):
			return outputTo(args[i+1])
		case strings.HasPrefix(a, "--"):
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				ch := a[j]
				if ch == 'n' {
					j++ // -nv, -nc, -nd: two-letter options
					continue
				}
				if ch != 'O' && !strings.ContainsRune(wgetArgOpts, rune(ch)) {
					continue
				}
				v := a[j+1:]
				if v == "" && i+1 < len(args) {
					i++
					v = args[i]
				}
				if ch == 'O' {
					return outputTo(v)
				}
				break
			}
		}
	}
	return "", toFile
}

// redirect returns the file stdout is redirected to, if any (2>... and >/dev/null do not count).
func redirect(args []string) string {
	for i, a := range args {
		var target string
		switch {
		case a == ">" || a == ">>" || a == "1>" || a == "&>":
			if i+1 < len(args) {
				target = args[i+1]
			}
		case strings.HasPrefix(a, ">>"):
			target = a[2:]
		case strings.HasPrefix(a, "&>"), strings.HasPrefix(a, "1>"):
			target = a[2:]
		case strings.HasPrefix(a, ">"):
			target = a[1:]
		default:
			continue
		}
		target = strings.Trim(target, `"'`)
		if target != "" && target != "/dev/null" && !strings.HasPrefix(target, "&") {
			return target
		}
	}
	return ""
}

// pipeSink follows a download's stdout through a pipeline: into an unpacker (or through a
// decompressor into a redirect) it lands on disk; into a shell it is TG-DF-030's; into
// anything else (jq, grep, gpg --dearmor) it is read, not kept. file is the file written, when
// one is named.
func pipeSink(rest []shellCmd) (dest, file string, ok bool) {
	for _, c := range rest {
		switch {
		case shells[c.name]:
			return "", "", false
		case c.name == "tee" || c.name == "dd":
			for _, a := range c.args {
				if v, ok := strings.CutPrefix(a, "of="); ok || (c.name == "tee" && !strings.HasPrefix(a, "-")) {
					if !ok {
						v = a
					}
					return " to " + v + " with " + c.name, baseName(v), true
				}
			}
			return " to a file with " + c.name, "", true
		case unpackers[c.name]:
			return " and unpacks it with " + c.name, "", true
		case filters[c.name]:
			if r := redirect(c.args); r != "" {
				return " to " + r + " through " + c.name, baseName(r), true
			}
		default:
			return "", "", false
		}
	}
	return "", "", false
}

func firstURL(words []string) string {
	for _, w := range words {
		w = strings.Trim(w, `"'(),;`)
		if strings.Contains(w, "://") {
			return w
		}
	}
	return ""
}

// local reports whether a URL points at this machine (a service started in the same RUN).
func local(url string) bool {
	_, rest, ok := strings.Cut(url, "://")
	if !ok {
		return false
	}
	host := strings.ToLower(strings.SplitN(rest, "/", 2)[0])
	host = strings.Split(host, ":")[0]
	return host == "localhost" || host == "127.0.0.1" || host == "[::1]"
}

// psEnd is the end of the PowerShell statement starting at from: the next ; | or line end.
func psEnd(text string, from int) int {
	if i := strings.IndexAny(text[from:], ";|\n"); i >= 0 {
		return from + i
	}
	return len(text)
}

func verified(text string) bool {
	for _, re := range verifyRes {
		if re.MatchString(text) {
			return true
		}
	}
	return false
}

// checkDownloads reports, per RUN, the downloads that no check covers: none in the same RUN,
// and none in a later RUN of the same stage that verifies and names the downloaded file (a
// signature fetched and checked in the next step, as the official Jenkins image does).
func checkDownloads(df *dockerfile, _ *Options) []hit {
	var hs []hit
	for _, s := range df.stages {
		type run struct {
			c    command
			sc   script
			text string
		}
		var runs []run
		for _, c := range s.all {
			if c.name == "run" {
				sc := runScript(df, c)
				text := runPrefixRe.ReplaceAllStringFunc(sc.text, func(s string) string { return strings.Repeat(" ", len(s)) })
				runs = append(runs, run{c, sc, text})
			}
		}
		for i, r := range runs {
			ds := downloads(r.text)
			if len(ds) == 0 || verified(r.text) {
				continue
			}
			var open []download
			for _, d := range ds {
				if verificationMaterial(d) {
					continue
				}
				later := false
				for _, l := range runs[i+1:] {
					if d.file != "" && verified(l.text) && strings.Contains(l.text, d.file) {
						later = true
						break
					}
				}
				if !later {
					open = append(open, d)
				}
			}
			if len(open) == 0 {
				continue
			}
			d := open[0]
			what := "a file"
			if d.url != "" {
				what = cut(d.url, 120)
			}
			msg := fmt.Sprintf("%s downloads %s with %s%s; nothing in the RUN checks its checksum or signature", r.c.label(), what, d.tool, d.dest)
			if len(open) > 1 {
				msg += fmt.Sprintf(" (%d unverified downloads in this RUN)", len(open))
			}
			hs = append(hs, hit{line: r.sc.lineAt(d.off), anchor: r.c.start, msg: msg + r.c.note()})
		}
	}
	return hs
}

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
