package main

import (
	"context"
	"fmt"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/discover"
	"github.com/tollgate-dev/tollgate/internal/lint"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Lint checks the project's Dockerfiles with BuildKit's parser and linter plus Tollgate's
// security rules, and gates the result. With no Dockerfile named (argument, lint.dockerfiles,
// build.dockerfile), every Dockerfile in the project is discovered, as the native runner does.
//
// +cache="session"
func (m *Tollgate) Lint(
	ctx context.Context,
	// Dockerfiles to lint, relative to the source root; default from tollgate.yaml
	// (lint.dockerfiles, globs allowed, else build.dockerfile), else every Dockerfile found.
	// +optional
	dockerfiles []string,
) (*StageReport, error) {
	return m.stage(ctx, lint.Name, lint.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		return m.lint(ctx, cfg, dockerfiles)
	})
}

// lint reads the Dockerfiles with the native stage's reader from the source exported into the
// module runtime: the arguments, else lint.dockerfiles (globs expanded in the source), else the
// build's Dockerfile, else the Dockerfiles discovered there. A project without any is skipped.
func (m *Tollgate) lint(ctx context.Context, cfg *config.Config, dockerfiles []string) (*model.StageResult, error) {
	if err := insideSource(dockerfiles); err != nil {
		return nil, err
	}
	sc, err := newScratch(lint.Tool().Name, "lint")
	if err != nil {
		return nil, err
	}
	defer sc.remove()
	root, err := sc.source(ctx, m, "src")
	if err != nil {
		return nil, err
	}
	if err := cfg.ExpandGlobs(root); err != nil {
		return nil, sc.scrub(err, root)
	}
	paths, defaulted := dockerfiles, false
	if len(paths) == 0 {
		// lint.dockerfiles, else the build's Dockerfile: the same one Build builds.
		if paths, defaulted = cfg.LintDockerfiles(); defaulted {
			found, err := discover.Discover(ctx, root)
			if err != nil {
				return nil, sc.scrub(&model.ToolError{Tool: lint.Tool().Name, Err: fmt.Errorf("discover Dockerfiles: %w", err)}, root)
			}
			if len(found.Dockerfiles) > 0 {
				paths = found.Dockerfiles
			}
		}
	}
	if err := insideSource(paths); err != nil {
		return nil, err
	}
	if r := (&stage.Env{Root: root}).SkipMissingDefaults(lint.Name, lint.Tool(), defaulted, paths, "set lint.dockerfiles or build.dockerfile in tollgate.yaml"); r != nil {
		return r, nil
	}
	inputs := make([]lint.Input, 0, len(paths))
	for _, p := range paths {
		// Like BuildKit (and the native stage): <Dockerfile>.dockerignore wins over .dockerignore.
		in, err := lint.ReadInput(root, p)
		if err != nil {
			return nil, sc.scrub(err, root)
		}
		inputs = append(inputs, in)
	}
	return lint.Lint(ctx, lint.OptionsFrom(cfg), inputs)
}
