package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/lint"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Lint checks the project's Dockerfiles with BuildKit's parser and linter plus Tollgate's
// security rules, and gates the result.
//
// +cache="session"
func (m *Tollgate) Lint(
	ctx context.Context,
	// Dockerfiles to lint, relative to the source root; default from tollgate.yaml (Dockerfile).
	// +optional
	dockerfiles []string,
) (*StageReport, error) {
	start := time.Now()
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if len(dockerfiles) == 0 {
		// lint.dockerfiles, else the build's Dockerfile: the same one Build builds.
		var defaulted bool
		dockerfiles, defaulted = cfg.LintDockerfiles()
		if defaulted {
			found := false
			for _, p := range dockerfiles {
				if ok, _ := m.Source.Exists(ctx, p); ok {
					found = true
				}
			}
			if !found {
				return newStageReport(&model.StageResult{Stage: lint.Name, Tool: lint.Tool(), Status: model.StatusSkipped,
					Findings: []model.Finding{}, Duration: time.Since(start),
					Error: "nothing to check: " + strings.Join(dockerfiles, ", ") + " not found (set lint.dockerfiles in tollgate.yaml)"})
			}
		}
	}
	var res *model.StageResult
	inputs, err := m.lintInputs(ctx, dockerfiles)
	if err == nil {
		res, err = lint.Lint(ctx, lint.OptionsFrom(cfg), inputs)
	}
	if err != nil {
		res = model.ErrorResult(lint.Name, lint.Tool(), err)
	}
	res.Duration = time.Since(start)
	gate.Apply(res, cfg, now())
	return newStageReport(res)
}

// lintInputs reads the Dockerfiles and their ignore files from the source. A Dockerfile that is
// not there is the user's input error (the stage reports it), not an engine failure.
func (m *Tollgate) lintInputs(ctx context.Context, dockerfiles []string) ([]lint.Input, error) {
	if err := insideSource(dockerfiles); err != nil {
		return nil, err
	}
	var inputs []lint.Input
	for _, p := range dockerfiles {
		if ok, err := m.Source.Exists(ctx, p, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType}); err == nil && !ok {
			return nil, &model.InputError{File: p, Err: errors.New("Dockerfile not found in the source directory")}
		}
		content, err := m.Source.File(p).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		in := lint.Input{Path: p, Content: []byte(content)}
		// Like BuildKit (and the native stage): <Dockerfile>.dockerignore wins over .dockerignore.
		for _, ignore := range []string{p + ".dockerignore", path.Join(path.Dir(p), ".dockerignore")} {
			if ok, _ := m.Source.Exists(ctx, ignore); !ok {
				continue
			}
			b, err := m.Source.File(ignore).Contents(ctx)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", ignore, err)
			}
			in.DockerIgnore, in.HasDockerIgnore, in.DockerIgnorePath = []byte(b), true, ignore
			break
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}
