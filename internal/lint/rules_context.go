package lint

import (
	"bytes"
	"fmt"
	"path"
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
			"COPY . (or *) sends the whole build context into the image; without a .dockerignore excluding .git and .env, history and local credentials ship with it.",
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
	var hs []hit
	for _, s := range df.stages {
		for _, c := range s.commands {
			var sd instructions.SourcesAndDest
			switch x := c.cmd.(type) {
			case *instructions.CopyCommand:
				if x.From != "" {
					continue // copies from another stage or image, not the context
				}
				sd = x.SourcesAndDest
			case *instructions.AddCommand:
				sd = x.SourcesAndDest
			default:
				continue
			}
			for _, src := range sd.SourcePaths {
				if wholeContext(src) {
					hs = append(hs, hit{line: c.start, msg: fmt.Sprintf("%s %s copies the whole build context and %s", strings.ToUpper(c.name), src, why)})
					break
				}
			}
		}
	}
	return hs
}
