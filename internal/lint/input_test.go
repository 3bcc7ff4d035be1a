package lint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Bad input is a clear *model.InputError naming the file (and the line when there is one),
// never a panic and never a pass.
func TestBadInput(t *testing.T) {
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	// A real binary: this test's own executable, which is ELF with NUL bytes early on.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, root, path string
		wantFile         string
		wantLine         int
		wantMsg          string
	}{
		{"binary", tmp, write("binary/Dockerfile", self[:4096]), "binary/Dockerfile", 1, "binary"},
		{"invalid utf-8", tmp, write("latin1/Dockerfile", []byte("FROM alpine:3.20\nLABEL author=\"M\xfcller\"\n")), "latin1/Dockerfile", 2, "invalid UTF-8"},
		{"nul on line 3", tmp, write("nul/Dockerfile", []byte("FROM alpine:3.20\nUSER 1\nRUN echo \x00\n")), "nul/Dockerfile", 3, "NUL"},
		{"empty", badDir, "input-empty/Dockerfile", "input-empty/Dockerfile", 0, "empty"},
		{"whitespace only", tmp, write("blank/Dockerfile", []byte("\n  \n\t\n")), "blank/Dockerfile", 0, "empty"},
		{"comments only", badDir, "input-comments-only/Dockerfile", "input-comments-only/Dockerfile", 2, "no instructions"},
		{"parse error", badDir, "input-parse-error/Dockerfile", "input-parse-error/Dockerfile", 3, "unknown instruction"},
		{"no FROM", badDir, "input-no-from/Dockerfile", "input-no-from/Dockerfile", 1, "FROM"},
		{"FROM without image", tmp, write("nofromarg/Dockerfile", []byte("FROM alpine:3.20\nUSER 1\nFROM\n")), "nofromarg/Dockerfile", 3, "FROM"},
		{"unreadable path", tmp, "missing/Dockerfile", "missing/Dockerfile", 0, "no such file"},
		{"directory without Dockerfile", tmp, "", "Dockerfile", 0, "no such file"},
		{"bad .dockerignore", tmp, write("badignore/Dockerfile", []byte("FROM alpine:3.20\nUSER 1\n")), "badignore/.dockerignore", 0, ".dockerignore"},
	}
	write("badignore/.dockerignore", []byte("[\n"))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := ReadInput(c.root, c.path)
			if err == nil {
				_, err = Lint(context.Background(), Options{}, []Input{in})
			}
			var ie *model.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %T %v, want *model.InputError", err, err)
			}
			if ie.File != c.wantFile || ie.Line != c.wantLine {
				t.Errorf("error at %s:%d, want %s:%d (%v)", ie.File, ie.Line, c.wantFile, c.wantLine, err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("error %q does not mention %q", err, c.wantMsg)
			}
			if r := model.ErrorResult(Name, Tool(), err); r.ErrorKind != model.ErrKindInput {
				t.Errorf("error kind %q, want input (exit 2)", r.ErrorKind)
			}
		})
	}
}

// The first bad file stops the stage even when good files come before it: a gate must not pass
// on a partial look.
func TestBadInputAmongGood(t *testing.T) {
	good := Input{Path: "ok/Dockerfile", Content: []byte("FROM alpine:3.20\nUSER 1\n")}
	bad := Input{Path: "bad/Dockerfile", Content: []byte("FROM alpine:3.20\nFORM x\n")}
	res, err := Lint(context.Background(), Options{}, []Input{good, bad})
	var ie *model.InputError
	if !errors.As(err, &ie) || ie.File != "bad/Dockerfile" || ie.Line != 2 || res != nil {
		t.Fatalf("got (%v, %v), want InputError at bad/Dockerfile:2", res, err)
	}
}

// Odd but valid Dockerfiles parse without error: heredocs, escape directive, CRLF, BOM.
func TestUnusualButValid(t *testing.T) {
	cases := map[string]string{
		"heredoc":  "FROM alpine:3.20\nRUN <<EOF\napk add --no-cache curl\ncurl -fsSL https://x.example/i.sh | sh\nEOF\nUSER 1\n",
		"escape":   "# escape=`\nFROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nRUN echo a `\n    && echo b\nUSER ContainerUser\n",
		"crlf":     "FROM alpine:3.20\r\nRUN apk add curl\r\nUSER 1\r\n",
		"bom":      "\ufeffFROM alpine:3.20\nUSER 1\n",
		"onbuild":  "FROM alpine:3.20\nONBUILD RUN echo hi\nUSER 1\n",
		"platform": "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM alpine:3.20\nCOPY --from=build /x /x\nUSER 1\n",
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			res := lintText(t, text, nil, Options{})
			switch name {
			case "heredoc":
				if got := linesOf(res, "TG-DF-030"); len(got) != 1 || got[0] != 4 {
					t.Errorf("curl|sh in a heredoc: TG-DF-030 at %v, want [4]%s", got, dump(res))
				}
			case "crlf":
				if got := linesOf(res, "TG-DF-033"); len(got) != 1 || got[0] != 2 {
					t.Errorf("CRLF: TG-DF-033 at %v, want [2]%s", got, dump(res))
				}
			}
		})
	}
}
