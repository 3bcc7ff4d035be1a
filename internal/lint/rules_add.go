package lint

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// ADD rules apply to every stage and to ONBUILD ADD triggers.

// archiveSuffixes are the local sources ADD unpacks; for those ADD does something COPY cannot.
var archiveSuffixes = []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst"}

func addRules() []rule {
	return []rule{
		newRule("TG-DF-020", "add-url", model.SeverityMedium,
			"ADD <url> fetches remote content at build time with no integrity check, so a changed or hijacked file goes straight into the image.",
			"Use `ADD --checksum=sha256:<digest> <url> <dest>`, or download in a RUN step and verify the checksum.",
			"FROM alpine:3.20\nADD https://example.com/tool.tar.gz /opt/",
			checkAddURL),
		newRule("TG-DF-021", "add-instead-of-copy", model.SeverityLow,
			"ADD also fetches URLs and unpacks archives; for plain local files that magic only hides intent and surprises reviewers.",
			"Use COPY for local files and directories; keep ADD for archives you want unpacked.",
			"FROM alpine:3.20\nADD app.py /app/",
			checkAddLocal),
	}
}

func isRemote(src string) bool {
	l := strings.ToLower(src)
	for _, p := range []string{"http://", "https://", "git@", "git://", "ssh://", "ftp://"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func isArchive(src string) bool {
	l := strings.ToLower(src)
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(l, s) {
			return true
		}
	}
	return false
}

func eachAdd(df *dockerfile, fn func(c command, add *instructions.AddCommand) []hit) []hit {
	var hs []hit
	for _, s := range df.stages {
		for _, c := range s.all {
			if add, ok := c.cmd.(*instructions.AddCommand); ok {
				hs = append(hs, fn(c, add)...)
			}
		}
	}
	return hs
}

func checkAddURL(df *dockerfile, _ *Options) []hit {
	return eachAdd(df, func(c command, add *instructions.AddCommand) []hit {
		if add.Checksum != "" {
			return nil
		}
		for _, src := range add.SourcePaths {
			if isRemote(src) {
				return []hit{{line: df.lineOf(c.start, c.end, src), anchor: c.start,
					msg: fmt.Sprintf("%s fetches %s without --checksum%s", c.label(), src, c.note())}}
			}
		}
		return nil
	})
}

func checkAddLocal(df *dockerfile, _ *Options) []hit {
	return eachAdd(df, func(c command, add *instructions.AddCommand) []hit {
		for _, src := range add.SourcePaths {
			if isRemote(src) || isArchive(src) {
				return nil
			}
		}
		return []hit{{line: c.start, msg: fmt.Sprintf("%s of local %s where COPY suffices%s", c.label(), strings.Join(sourcesOf(add.SourcesAndDest), " "), c.note())}}
	})
}

func sourcesOf(sd instructions.SourcesAndDest) []string {
	out := append([]string(nil), sd.SourcePaths...)
	for _, sc := range sd.SourceContents {
		out = append(out, "<<"+sc.Path)
	}
	return out
}
