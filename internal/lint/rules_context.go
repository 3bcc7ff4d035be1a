package lint

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// mustExclude are context paths that must never reach an image: repository history and
// env files with local credentials.
var mustExclude = []string{".git", ".env"}

func contextRules() []rule {
	return []rule{
		newRule("TG-DF-050", "copy-context-unfiltered", model.SeverityMedium,
			"COPY . (or *, or ADD .) sends the whole build context into a stage; without a .dockerignore that excludes .git and .env, "+
				"repository history and local credentials land there. The rule judges by what ships: it fires when those files reach the final image, "+
				"because the final stage (or a stage it is built FROM) copies the context, or because a `COPY --from=<stage>` in it copies a path "+
				"that holds them from a builder that did (directly or through a chain of such copies). A builder that copies the context, builds, "+
				"and hands only its output to the final stage does not fire. `COPY --exclude` counts like .dockerignore; files moved by RUN are not followed.",
			"Add a .dockerignore beside the Dockerfile that lists at least `.git` and `.env*` (better: copy only what the build needs).",
			"# (no .dockerignore beside the Dockerfile)\nFROM node:20\nCOPY . /app",
			checkCopyContext),
	}
}

// dockerIgnoreName is the name the findings use for the ignore file.
func dockerIgnoreName(in Input) string {
	if in.DockerIgnorePath != "" {
		return in.DockerIgnorePath
	}
	return path.Join(path.Dir(in.Path), ".dockerignore")
}

// parseDockerIgnore compiles the .dockerignore; a pattern BuildKit would reject is bad input.
func parseDockerIgnore(in Input) (*patternmatcher.PatternMatcher, error) {
	if !in.HasDockerIgnore {
		return nil, nil
	}
	pats, err := ignorefile.ReadAll(bytes.NewReader(in.DockerIgnore))
	if err != nil {
		return nil, &model.InputError{File: dockerIgnoreName(in), Err: fmt.Errorf("read .dockerignore: %w", err)}
	}
	pm, err := patternmatcher.New(pats)
	if err != nil {
		return nil, &model.InputError{File: dockerIgnoreName(in), Err: fmt.Errorf("parse .dockerignore: %w", err)}
	}
	return pm, nil
}

// wholeContext reports whether a COPY/ADD source means "everything in the context".
func wholeContext(src string) bool {
	switch strings.TrimSpace(src) {
	case ".", "./", "*", "./*", "/", "./.", "/*":
		return true
	}
	return false
}

// exposure is a context entry that must not ship (.git, .env) at a path in a stage's
// filesystem, and how it got there.
type exposure struct {
	entry  string   // ".git" or ".env"
	path   string   // where it is in this stage (unexpanded variables stay as written)
	origin command  // the COPY/ADD that copied the whole context
	from   string   // the stage that copied it, as stageLabel names it
	via    []string // the COPY --from instructions that carried it on, in order
}

// checkCopyContext follows the context's .git and .env (when .dockerignore lets them in) from
// the COPY/ADD that copied the whole context, through stage inheritance (FROM <stage>) and
// COPY --from, and reports the copies whose files reach the final stage.
func checkCopyContext(df *dockerfile, _ *Options) []hit {
	var missing []string
	if df.ignore == nil {
		missing = mustExclude
	} else {
		for _, p := range mustExclude {
			if ok, err := df.ignore.MatchesOrParentMatches(p); err != nil || !ok {
				missing = append(missing, p)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	why := fmt.Sprintf("%s does not exclude %s", dockerIgnoreName(df.in), strings.Join(missing, " and "))
	if df.ignore == nil {
		why = fmt.Sprintf("there is no %s", dockerIgnoreName(df.in))
	}

	exposed := map[*buildStage][]exposure{}
	workdirs := map[*buildStage]string{}
	for i, s := range df.stages {
		var ex []exposure
		wd := "/"
		if s.parent != nil {
			ex = append(ex, exposed[s.parent]...)
			wd = workdirs[s.parent]
		}
		env := resolveMetaArgs(df.escape, df.metaArgs, df.buildArgs)
		for _, c := range s.commands {
			switch x := c.cmd.(type) {
			case *instructions.WorkdirCommand:
				wd = absPath(wd, expandPath(df, x.Path, env))
			case *instructions.ArgCommand:
				for _, kv := range x.Args {
					if v, ok := df.buildArgs[kv.Key]; ok {
						env[kv.Key] = v // the build's value wins over the ARG's default
					} else if kv.Value != nil {
						env[kv.Key], _ = expandWord(df.escape, *kv.Value, env)
					}
				}
			case *instructions.EnvCommand:
				for _, kv := range x.Env {
					env[kv.Key], _ = expandWord(df.escape, kv.Value, env)
				}
			case *instructions.CopyCommand:
				dest := absPath(wd, expandPath(df, x.DestPath, env))
				if x.From == "" {
					ex = append(ex, contextCopy(c, stageLabel(s, i), x.SourcePaths, x.ExcludePatterns, dest, missing)...)
					continue
				}
				src := stageByRef(df, x.From, i)
				if src == nil {
					continue // an image, not a stage of this file
				}
				for _, e := range exposed[src] {
					for _, sp := range x.SourcePaths {
						if p, ok := carried(e.path, absPath("/", expandPath(df, sp, env)), dest); ok && !excluded(x.ExcludePatterns, e.entry) {
							e.path = p
							e.via = append(append([]string(nil), e.via...), fmt.Sprintf("COPY --from=%s at line %d", x.From, c.start))
							ex = append(ex, e)
							break
						}
					}
				}
			case *instructions.AddCommand:
				ex = append(ex, contextCopy(c, stageLabel(s, i), x.SourcePaths, x.ExcludePatterns, absPath(wd, expandPath(df, x.DestPath, env)), missing)...)
			}
		}
		exposed[s], workdirs[s] = ex, wd
	}

	// One finding per context copy whose files ship, at that copy's line.
	var order []int
	first := map[int]exposure{}
	entries := map[int][]string{}
	for _, e := range exposed[df.final()] {
		l := e.origin.start
		if _, ok := first[l]; !ok {
			order = append(order, l)
			first[l] = e
		}
		if !slices.Contains(entries[l], e.entry) {
			entries[l] = append(entries[l], e.entry)
		}
	}
	var hs []hit
	for _, l := range order {
		e := first[l]
		msg := fmt.Sprintf("%s %s copies the whole build context and %s", e.origin.label(), firstWhole(e.origin), why)
		if len(e.via) > 0 {
			verb := "reaches"
			if len(entries[l]) > 1 {
				verb = "reach"
			}
			msg = fmt.Sprintf("%s %s copies the whole build context into stage %s and %s; %s %s the final image through %s",
				e.origin.label(), firstWhole(e.origin), e.from, why, strings.Join(entries[l], " and "), verb, strings.Join(e.via, ", then "))
		}
		hs = append(hs, hit{line: l, msg: msg})
	}
	return hs
}

// contextCopy returns the exposures a COPY/ADD from the build context creates: each missing
// entry at dest/entry when a source is the whole context and --exclude does not drop it.
func contextCopy(c command, stage string, srcs, excludes []string, dest string, missing []string) []exposure {
	whole := false
	for _, src := range srcs {
		whole = whole || wholeContext(src)
	}
	if !whole {
		return nil
	}
	var ex []exposure
	for _, m := range missing {
		if !excluded(excludes, m) {
			ex = append(ex, exposure{entry: m, path: path.Join(dest, m), origin: c, from: stage})
		}
	}
	return ex
}

// carried reports whether COPY --from with source src takes the file or directory at p along,
// and where it lands under dest. A directory source copies its contents into dest.
func carried(p, src, dest string) (string, bool) {
	if strings.ContainsAny(src, "*?[") {
		// A pattern matches whole path elements: p itself or one of its parent directories.
		for q := p; ; q = path.Dir(q) {
			if ok, _ := path.Match(src, q); ok {
				return path.Join(dest, strings.TrimPrefix(p, q)), true
			}
			if q == "/" || q == "." {
				return "", false
			}
		}
	}
	switch {
	case src == "/":
		return path.Join(dest, p), true
	case p == src, strings.HasPrefix(p, src+"/"):
		return path.Join(dest, strings.TrimPrefix(p, src)), true
	case strings.HasPrefix(src, p+"/"):
		return dest, true // part of .git (say .git/config) is still a leak
	}
	return "", false
}

// excluded reports whether COPY --exclude patterns drop a context entry.
func excluded(patterns []string, entry string) bool {
	if len(patterns) == 0 {
		return false
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return false
	}
	ok, err := pm.MatchesOrParentMatches(entry)
	return err == nil && ok
}

// stageByRef finds the stage COPY --from names: by name, or by index among the stages before it.
func stageByRef(df *dockerfile, ref string, before int) *buildStage {
	for _, s := range df.stages[:before] {
		if s.name != "" && strings.EqualFold(s.name, ref) {
			return s
		}
	}
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < before {
		return df.stages[n]
	}
	return nil
}

// expandPath substitutes known ARG/ENV values; a path with a variable nobody set keeps it as
// written, so two instructions naming the same $VAR path still compare equal.
func expandPath(df *dockerfile, p string, env envMap) string {
	v, unset := expandWord(df.escape, p, env)
	if len(unset) > 0 {
		return p
	}
	return v
}

// absPath resolves p against the working directory the way COPY and WORKDIR do.
func absPath(wd, p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(wd, p)
}

// stageLabel names a stage in messages: "build" (quoted) or, unnamed, by index and line.
func stageLabel(s *buildStage, index int) string {
	if s.name != "" {
		return strconv.Quote(s.name)
	}
	return fmt.Sprintf("%d (line %d)", index, s.line)
}

func firstWhole(c command) string {
	var srcs []string
	switch x := c.cmd.(type) {
	case *instructions.CopyCommand:
		srcs = x.SourcePaths
	case *instructions.AddCommand:
		srcs = x.SourcePaths
	}
	for _, s := range srcs {
		if wholeContext(s) {
			return s
		}
	}
	return "."
}
