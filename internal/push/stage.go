package push

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Stage is the native push stage: a release stage (it starts after every gate passed) that
// publishes the image built in this run, or the image archive named on the command line.
func Stage() stage.Stage {
	return stage.Stage{
		Name:       Name,
		Tool:       Tool(),
		Needs:      []string{"build"},
		AfterGates: true,
		OptIn:      func(c *config.Config, _ string) bool { return c.Push.Configured },
		Usage:      "[IMAGE]",
		Short:      "Push the built image (or an OCI archive) to push.repository and print its digest",
		Flags:      flags,
		Run:        run,
	}
}

func run(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	start := time.Now()
	cfg := env.Config
	if !cfg.Push.Configured {
		return &model.StageResult{Stage: Name, Tool: Tool(), Status: model.StatusSkipped, Findings: []model.Finding{},
			Error: "not configured: add a push: section to tollgate.yaml, pass --push, or select it with --stages push"}, nil
	}
	if err := cfg.ValidatePush(); err != nil {
		return nil, err
	}
	if cfg.Push.Repository == "" {
		return nil, &model.InputError{File: cfg.Path, Line: cfg.Push.Line, Err: errors.New("push.repository is not set: name the repository to push to (e.g. registry.example.com/team/app), or pass --push-repository")}
	}
	input := ""
	if len(env.Args) > 0 && strings.TrimSpace(env.Args[0]) != "" {
		input = env.Path(env.Args[0])
	} else if b := env.BuiltImage(); b != nil {
		input = b.Archive
	} else {
		return nil, &model.InputError{Err: errors.New("nothing to push: no image was built in this run; configure the build (a build: section or --build) or pass an image archive (tollgate push IMAGE)")}
	}
	timeout, _ := cfg.Push.TimeoutDuration() // validated above
	work := env.WorkDir
	if work != "" {
		if err := os.MkdirAll(work, 0o755); err != nil {
			return nil, &model.ToolError{Tool: "registry", Err: err}
		}
	}
	if env.Progress != nil {
		env.Progress(Name, "pushing to "+cfg.Push.Repository)
	}
	p, err := Push(ctx, Request{Image: input, Repository: cfg.Push.Repository, Tags: cfg.Push.Tags, Insecure: cfg.Push.Insecure,
		Timeout: timeout, WorkDir: work})
	if err != nil {
		return nil, err
	}
	if env.Shared != nil {
		env.Shared.Set(stage.KeyPublishedRef, p.Ref)
	}
	if env.Progress != nil {
		msg := "pushed " + p.Ref
		if len(p.Tags) > 0 {
			msg += " (tags: " + strings.Join(cfg.Push.Tags, ", ") + ")"
		}
		env.Progress(Name, msg)
	}
	res := &model.StageResult{Stage: Name, Tool: Tool(), Findings: []model.Finding{}, Duration: time.Since(start),
		Artifacts: []model.Artifact{{Name: "pushed image", Path: p.Ref, Type: "image-reference"}}}
	for _, t := range p.Tags {
		res.Artifacts = append(res.Artifacts, model.Artifact{Name: "tag", Path: t, Type: "image-reference"})
	}
	return res, nil
}

// flags registers the push flags; only flags the user set override tollgate.yaml.
func flags(fs *pflag.FlagSet) func(c *config.Config) {
	on := fs.Bool("push", false, "push the built image once every gate passed (as if tollgate.yaml had a push: section)")
	repo := fs.String("push-repository", "", "repository to push to, registry/path without tag (overrides push.repository)")
	tags := fs.StringArray("tag", nil, "tag to point at the pushed image, repeatable (overrides push.tags)")
	insecure := fs.Bool("push-insecure", false, "allow plain HTTP to a loopback registry (overrides push.insecure)")
	timeout := fs.String("push-timeout", "", "push timeout, a Go duration (overrides push.timeout, default 10m)")
	return func(c *config.Config) {
		if fs.Changed("push") && *on {
			c.Push.Configured = true
		}
		if fs.Changed("push-repository") {
			c.Push.Repository = *repo
		}
		if fs.Changed("tag") {
			c.Push.Tags = *tags
		}
		if fs.Changed("push-insecure") {
			c.Push.Insecure = *insecure
		}
		if fs.Changed("push-timeout") {
			c.Push.Timeout = *timeout
		}
	}
}
