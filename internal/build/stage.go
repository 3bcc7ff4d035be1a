package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// ArchiveMediaType names the build's output in reports.
const ArchiveMediaType = "application/vnd.oci.image.layout.v1+tar"

// Stage is the native build stage. It runs only when asked (a build section in tollgate.yaml,
// --build, or the stage named explicitly) and hands the OCI archive it wrote to sbom, scan and
// push through stage.KeyBuiltImage.
func Stage() stage.Stage {
	return stage.Stage{
		Name:   Name,
		OptIn:  func(c *config.Config, _ string) bool { return c.Build.Configured },
		Tool:   Tool(),
		Usage:  "[DIR]",
		Short:  "Build the project's Dockerfile into an OCI image archive (private BuildKit, or docker buildx)",
		Flags:  flags,
		Run:    run,
		DirArg: true,
	}
}

func run(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	start := time.Now()
	cfg := env.Config
	if !cfg.Build.Configured {
		return &model.StageResult{Stage: Name, Tool: Tool(), Status: model.StatusSkipped, Findings: []model.Finding{},
			Error: "not configured: add a build: section to tollgate.yaml, pass --build, or select it with --stages build"}, nil
	}
	progress := func(msg string) {
		if env.Progress != nil {
			env.Progress(Name, msg)
		}
	}
	git := ReadGit(ctx, env.Path(cfg.Build.ContextDir()))
	plan, err := NewPlan(env.Root, cfg, git, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	archive, err := outputPath(env)
	if err != nil {
		return nil, err
	}
	var res *Result
	switch cfg.Build.Builder {
	case "buildx":
		progress("building " + plan.Describe() + " with docker buildx")
		res, err = Buildx(ctx, plan, archive, progress)
	default:
		res, err = buildNative(ctx, env, plan, archive, progress)
	}
	if err != nil {
		return nil, err
	}
	if len(res.Platforms) == 0 {
		res.Platforms = []string{"linux/" + runtime.GOARCH}
	}
	// The archive is what sbom, scan and push read; check it holds what BuildKit said it built.
	if got, err := ArchiveDigest(res.Archive); err != nil || got != res.Digest {
		return nil, toolErr(fmt.Errorf("the OCI archive %s does not hold the built image %s (index names %q: %v)", res.Archive, res.Digest, got, err))
	}
	if env.Shared != nil {
		env.Shared.Set(stage.KeyBuiltImage, &stage.BuiltImage{Archive: res.Archive, Digest: res.Digest, Platforms: res.Platforms})
	}
	progress(fmt.Sprintf("built %s (%s; %d steps, %d cached) -> %s", res.Digest, strings.Join(res.Platforms, ", "), res.Steps, res.Cached, res.Archive))
	return &model.StageResult{Stage: Name, Tool: Tool(), Findings: []model.Finding{}, Duration: time.Since(start),
		Artifacts: []model.Artifact{{Name: "image " + res.Digest, Path: res.Archive, Type: ArchiveMediaType}}}, nil
}

// outputPath is build.output, else an archive in the run's scratch dir (removed after the run),
// else, outside a pipeline run, a fresh temp dir.
func outputPath(env *stage.Env) (string, error) {
	if o := env.Config.Build.Output; o != "" {
		return env.Path(o), nil
	}
	dir := env.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "tollgate-build-*")
		if err != nil {
			return "", toolErr(err)
		}
		dir = d
	}
	return filepath.Join(dir, "build", "image.oci.tar"), nil
}

// buildNative builds with Tollgate's private BuildKit: checks the machine can run it, installs
// the pinned buildkitd when needed, starts it on a temp socket with the shared build cache
// and stops it afterwards.
func buildNative(ctx context.Context, env *stage.Env, plan *Plan, archive string, progress func(string)) (*Result, error) {
	runc, err := Requirements(exec.LookPath, os.Geteuid())
	if err != nil {
		return nil, err
	}
	if env.Tools == nil {
		return nil, toolErr(errors.New("no tool installer configured"))
	}
	bin, err := env.Tools.Ensure(ctx, "buildkitd")
	if err != nil {
		return nil, toolErr(err)
	}
	d, err := StartDaemon(ctx, DaemonOptions{Binary: bin, Runc: runc, StateDir: StateDir(env.Tools.CacheDir)})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	if d.Note != "" {
		progress(d.Note)
	}
	progress("building " + plan.Describe() + " with buildkitd " + Tool().Version)
	return Solve(ctx, d.Addr, plan, archive, progress, d.Exited())
}

// StateDir is where the private BuildKit keeps its cache between runs, in the tool cache.
func StateDir(cacheDir string) string {
	return filepath.Join(cacheDir, "buildkit", Tool().Version)
}

// flags registers the build flags; only flags the user set override tollgate.yaml.
func flags(fs *pflag.FlagSet) func(c *config.Config) {
	on := fs.Bool("build", false, "build the image (as if tollgate.yaml had a build: section)")
	dockerfile := fs.String("dockerfile", "", "Dockerfile to build and lint, relative to the project (overrides build.dockerfile)")
	bctx := fs.String("build-context", "", "build context directory, relative to the project (overrides build.context)")
	target := fs.String("target", "", "Dockerfile stage to build (overrides build.target)")
	args := fs.StringArray("build-arg", nil, "build argument KEY=VALUE, repeatable (added to build.build-args; also used by lint)")
	secrets := &secretList{}
	fs.Var(secrets, "secret", "build secret id=ID,env=VAR or id=ID,src=FILE, repeatable (values never on the command line)")
	platforms := fs.StringSlice("platform", nil, "platforms to build, comma-separated (overrides build.platforms)")
	builder := fs.String("builder", "", "native builder: auto, buildkit or buildx (overrides build.builder)")
	timeout := fs.String("build-timeout", "", "build timeout, a Go duration (overrides build.timeout, default 30m)")
	output := fs.String("build-output", "", "write the OCI image archive here (overrides build.output)")
	return func(c *config.Config) {
		if fs.Changed("build") && *on {
			c.Build.Configured = true
		}
		if fs.Changed("dockerfile") {
			c.Build.Dockerfile = *dockerfile
		}
		if fs.Changed("build-context") {
			c.Build.Context = *bctx
		}
		if fs.Changed("target") {
			c.Build.Target = *target
		}
		if fs.Changed("build-arg") {
			if c.Build.BuildArgs == nil {
				c.Build.BuildArgs = map[string]string{}
			}
			for _, kv := range *args {
				k, v, _ := strings.Cut(kv, "=")
				c.Build.BuildArgs[k] = v
			}
		}
		if fs.Changed("secret") {
			c.Build.Secrets = append(c.Build.Secrets, secrets.list...)
		}
		if fs.Changed("platform") {
			c.Build.Platforms = *platforms
		}
		if fs.Changed("builder") {
			c.Build.Builder = *builder
		}
		if fs.Changed("build-timeout") {
			c.Build.Timeout = *timeout
		}
		if fs.Changed("build-output") {
			c.Build.Output = *output
		}
	}
}

// secretList is a --secret flag value, checked when the flag is parsed.
type secretList struct{ list []config.BuildSecret }

func (l *secretList) String() string {
	var ids []string
	for _, s := range l.list {
		ids = append(ids, s.ID)
	}
	return strings.Join(ids, ",")
}

func (l *secretList) Set(v string) error {
	s, err := config.ParseBuildSecret(v)
	if err != nil {
		return err
	}
	l.list = append(l.list, s)
	return nil
}

func (l *secretList) Type() string { return "secret" }
