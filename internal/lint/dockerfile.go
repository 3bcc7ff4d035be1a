package lint

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// dockerfile is one parsed Dockerfile with what the rules need: stages in order, the final
// stage's lineage, resolved base images and the raw lines (for comments and exact lines).
type dockerfile struct {
	in       Input
	lines    []string // raw lines; lines[i] is line i+1
	escape   rune
	metaArgs []*instructions.ArgCommand
	// buildArgs are the build's values for declared ARGs; they override the defaults.
	buildArgs map[string]string
	stages    []*buildStage
	ignore    *patternmatcher.PatternMatcher // nil when there is no .dockerignore
	// buildkit holds the findings of BuildKit's own linter, by rule name.
	buildkit map[string][]hit
}

// buildStage is one FROM ... section.
type buildStage struct {
	name     string      // lower-cased stage name, "" when unnamed
	line     int         // line of the FROM instruction
	rawBase  string      // base as written (may hold ${ARG})
	base     string      // base after ARG defaults are applied
	unset    []string    // build args the base needs that have no default
	parent   *buildStage // set when the base is an earlier stage
	commands []command
	// all is commands with each ONBUILD trigger right after its ONBUILD instruction. Rules
	// that apply to every stage check triggers like the instructions they become in a build
	// FROM this image; rules about this image's own contents (user, caches) use commands.
	all []command
}

// command is one instruction of a stage.
type command struct {
	name    string // lower-case instruction name
	start   int    // first line
	end     int    // last line (continuations, heredocs)
	cmd     instructions.Command
	onbuild bool // an ONBUILD trigger: the instruction after ONBUILD, at the ONBUILD's lines
}

// label names the instruction in messages: "RUN", or "ONBUILD RUN" for a trigger.
func (c command) label() string {
	if c.onbuild {
		return "ONBUILD " + strings.ToUpper(c.name)
	}
	return strings.ToUpper(c.name)
}

// note ends a message about a trigger with where it takes effect.
func (c command) note() string {
	if c.onbuild {
		return " (an ONBUILD trigger: it runs in every build FROM this image)"
	}
	return ""
}

// trigger parses an ONBUILD instruction's trigger the way BuildKit does when a build uses the
// image as its base. ok is false when it does not parse; BuildKit only rejects that in the
// downstream build, so it is not this file's input error.
func trigger(on *instructions.OnbuildCommand, start, end int) (command, bool) {
	res, err := parser.Parse(strings.NewReader(on.Expression))
	if err != nil || res.AST == nil || len(res.AST.Children) != 1 {
		return command{}, false
	}
	ic, err := instructions.ParseInstructionWithLinter(res.AST.Children[0], linter.New(&linter.Config{}))
	if err != nil {
		return command{}, false
	}
	c, ok := ic.(instructions.Command)
	if !ok {
		return command{}, false
	}
	return command{name: strings.ToLower(c.Name()), start: start, end: end, cmd: c, onbuild: true}, true
}

// lineOf returns the first line in [start,end] whose text contains needle, else start.
func (df *dockerfile) lineOf(start, end int, needle string) int {
	for l := start; l <= end && l <= len(df.lines); l++ {
		if strings.Contains(df.lines[l-1], needle) {
			return l
		}
	}
	return start
}

// final is the stage the image is built from: the last one.
func (df *dockerfile) final() *buildStage { return df.stages[len(df.stages)-1] }

// lineage returns the final stage and the earlier stages it is built on (FROM <stage>),
// nearest first. Rules about the shipped image look only at these.
func (df *dockerfile) lineage() []*buildStage {
	var out []*buildStage
	seen := map[*buildStage]bool{}
	for s := df.final(); s != nil && !seen[s]; s = s.parent {
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// external reports whether the stage's base is an image rather than an earlier stage or scratch.
func (s *buildStage) external() bool {
	return s.parent == nil && !strings.EqualFold(s.base, "scratch")
}

// parseDockerfile checks the bytes are a text Dockerfile and parses it with BuildKit's parser.
// Every problem is a *model.InputError naming the file and, when known, the line.
func parseDockerfile(in Input, buildArgs map[string]string) (*dockerfile, error) {
	if err := checkText(in); err != nil {
		return nil, err
	}
	res, err := parser.Parse(bytes.NewReader(in.Content))
	if err != nil {
		return nil, inputErr(in.Path, err, "parse Dockerfile")
	}
	if res.AST == nil || len(res.AST.Children) == 0 {
		return nil, &model.InputError{File: in.Path, Err: errors.New("Dockerfile has no instructions (empty or only comments)")}
	}
	// A linter that reports nothing (BuildKit's own run collects the warnings): with a nil one,
	// BuildKit's parser crashes on a `# check=` comment above an instruction.
	stages, metaArgs, err := instructions.Parse(res.AST, linter.New(&linter.Config{}))
	if err != nil {
		if strings.Contains(err.Error(), "no build stage in current context") {
			// BuildKit's wording for an instruction before the first FROM.
			err = fmt.Errorf("%w: only ARG may come before the first FROM", err)
		}
		return nil, inputErr(in.Path, err, "parse Dockerfile")
	}
	if len(stages) == 0 {
		return nil, &model.InputError{File: in.Path, Line: res.AST.Children[0].StartLine, Err: errors.New("Dockerfile has no FROM instruction")}
	}
	ignore, err := parseDockerIgnore(in)
	if err != nil {
		return nil, err
	}
	df := &dockerfile{in: in, lines: splitLines(in.Content), escape: res.EscapeToken, ignore: ignore, buildArgs: buildArgs}
	for i := range metaArgs {
		df.metaArgs = append(df.metaArgs, &metaArgs[i])
	}

	// Each instruction's end line comes from the AST; the parsed commands only keep the start.
	ends := map[int]int{}
	for _, n := range res.AST.Children {
		ends[n.StartLine] = n.EndLine
	}
	metaEnv := resolveMetaArgs(df.escape, df.metaArgs, df.buildArgs)
	byName := map[string]*buildStage{}
	for _, st := range stages {
		bs := &buildStage{name: strings.ToLower(st.Name), line: firstLine(st.Location), rawBase: st.BaseName}
		bs.base, bs.unset = expandWord(df.escape, st.BaseName, metaEnv)
		if p, ok := byName[strings.ToLower(bs.base)]; ok {
			bs.parent = p
		}
		for _, c := range st.Commands {
			start := firstLine(c.Location())
			end := max(ends[start], start)
			cmd := command{name: strings.ToLower(c.Name()), start: start, end: end, cmd: c}
			bs.commands = append(bs.commands, cmd)
			bs.all = append(bs.all, cmd)
			if on, ok := c.(*instructions.OnbuildCommand); ok {
				if tc, ok := trigger(on, start, end); ok {
					bs.all = append(bs.all, tc)
				}
			}
		}
		if bs.name != "" {
			byName[bs.name] = bs
		}
		df.stages = append(df.stages, bs)
	}
	return df, nil
}

// checkText rejects binary content before the parser sees it: NUL bytes or invalid UTF-8.
func checkText(in Input) error {
	if len(bytes.TrimSpace(in.Content)) == 0 {
		return &model.InputError{File: in.Path, Err: errors.New("Dockerfile is empty")}
	}
	line := 1
	for i := 0; i < len(in.Content); {
		r, size := utf8.DecodeRune(in.Content[i:])
		switch {
		case r == 0:
			return &model.InputError{File: in.Path, Line: line, Err: errors.New("not a text Dockerfile (contains NUL bytes); is this a binary file?")}
		case r == utf8.RuneError && size <= 1:
			return &model.InputError{File: in.Path, Line: line, Err: errors.New("not a text Dockerfile (invalid UTF-8); is this a binary file?")}
		case r == '\n':
			line++
		}
		i += size
	}
	return nil
}

// inputErr wraps a BuildKit parse error, keeping its line when it has one.
func inputErr(file string, err error, what string) error {
	line := 0
	var le *parser.LocationError
	if errors.As(err, &le) {
		for _, rs := range le.Locations {
			if l := firstLine(rs); l > 0 {
				line = l
				break
			}
		}
	}
	// The line is in the InputError already; BuildKit's own "on line N" prefix would repeat it.
	msg := parseErrPrefix.ReplaceAllString(err.Error(), "")
	return &model.InputError{File: file, Line: line, Err: fmt.Errorf("%s: %s", what, msg)}
}

var parseErrPrefix = regexp.MustCompile(`^dockerfile parse error on line \d+: `)

func firstLine(rs []parser.Range) int {
	if len(rs) == 0 {
		return 0
	}
	return rs[0].Start.Line
}

func splitLines(b []byte) []string {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return strings.Split(s, "\n")
}

// envMap is the shell.EnvGetter for ARG expansion.
type envMap map[string]string

func (e envMap) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e envMap) Keys() []string {
	out := make([]string, 0, len(e))
	for k := range e {
		out = append(out, k)
	}
	return out
}

// resolveMetaArgs applies the ARGs before the first FROM, in order, the way the build sees
// them: a build arg given for a declared ARG wins over its default.
func resolveMetaArgs(escape rune, args []*instructions.ArgCommand, buildArgs map[string]string) envMap {
	env := envMap{}
	for _, a := range args {
		for _, kv := range a.Args {
			if v, ok := buildArgs[kv.Key]; ok {
				env[kv.Key] = v
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, _ := expandWord(escape, *kv.Value, env)
			env[kv.Key] = v
		}
	}
	return env
}

// expandWord processes w the way BuildKit's shell lexer does (variables substituted, quotes
// and escapes removed) and reports the variables that had no value.
func expandWord(escape rune, w string, env envMap) (string, []string) {
	if !strings.ContainsAny(w, "$\"'"+string(escape)) {
		return w, nil
	}
	res, err := shell.NewLex(escape).ProcessWordWithMatches(w, env)
	if err != nil {
		return w, nil
	}
	var unset []string
	for k := range res.Unmatched {
		unset = append(unset, k)
	}
	return res.Result, unset
}
