package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/changes"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/pipeline"
	"github.com/tollgate-dev/tollgate/internal/report"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

func newRunCmd(g *globalOpts, stdout, stderr io.Writer) *cobra.Command {
	var stages []string
	var img string
	var appliers []func(*config.Config)
	cmd := &cobra.Command{
		Use:   "run [DIR]",
		Short: "Run every configured stage on a project directory (default: .)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if img != "" {
				appliers = append(appliers, func(c *config.Config) { c.Scan.Image, c.SBOM.Image = img, img })
			}
			return execute(cmd.Context(), g, dir, stages, nil, appliers, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&g.changed, "changed", "", "check only what changed since this git revision (e.g. HEAD, origin/main): stages whose inputs did not change come from the result cache, or are skipped")
	cmd.Flags().StringVar(&img, "image", "", "image for the sbom and scan stages: docker-archive or OCI tarball, OCI layout dir, or registry reference (overrides scan.image and sbom.image)")
	cmd.Flags().StringSliceVar(&stages, "stages", nil, "stages to run, comma-separated (default: tollgate.yaml's stages, else all): "+strings.Join(config.StageNames(), ","))
	// Every stage's flags are accepted by run too, so one command line can tune the whole pipeline.
	seen := map[string]bool{}
	for _, s := range pipeline.Stages() {
		if s.Flags == nil {
			continue
		}
		fs := pflag.NewFlagSet(s.Name, pflag.ContinueOnError)
		apply := s.Flags(fs)
		fs.VisitAll(func(f *pflag.Flag) {
			if !seen[f.Name] {
				seen[f.Name] = true
				cmd.Flags().AddFlag(f)
			}
		})
		appliers = append(appliers, apply)
	}
	return cmd
}

func newStageCmds(g *globalOpts, stdout, stderr io.Writer) []*cobra.Command {
	var cmds []*cobra.Command
	for _, s := range pipeline.Stages() {
		var dir string
		var appliers []func(*config.Config)
		short := s.Short
		if short == "" {
			short = "Run the " + s.Name + " stage"
		}
		cmd := &cobra.Command{
			Use:   strings.TrimSpace(s.Name + " " + s.Usage),
			Short: short,
			RunE: func(cmd *cobra.Command, args []string) error {
				if s.DirArg && len(args) > 0 {
					// `tollgate build [DIR]`: DIR is the project, like `tollgate run [DIR]`.
					if len(args) > 1 || cmd.Flags().Changed("dir") {
						return &exitError{code: model.ExitUsage, err: fmt.Errorf("%s takes one project directory: pass DIR or --dir, not both", s.Name)}
					}
					dir, args = args[0], nil
				}
				return execute(cmd.Context(), g, dir, []string{s.Name}, args, appliers, stdout, stderr)
			},
		}
		cmd.Flags().StringVarP(&dir, "dir", "C", ".", "project directory (where tollgate.yaml lives; relative paths start here)")
		if s.Flags != nil {
			appliers = append(appliers, s.Flags(cmd.Flags()))
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// execute is the body of `run` and of every stage command.
func execute(ctx context.Context, g *globalOpts, dir string, stageNames, args []string, appliers []func(*config.Config), stdout, stderr io.Writer) error {
	w, err := report.New(g.format)
	if err != nil {
		return &exitError{code: model.ExitUsage, err: err}
	}
	switch g.progress {
	case "auto", "live", "plain", "none", "":
	default:
		return &exitError{code: model.ExitUsage, err: fmt.Errorf("--progress: unknown view %q (want auto, live, plain or none)", g.progress)}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return &exitError{code: model.ExitUsage, err: fmt.Errorf("project directory %s: not a readable directory", dir)}
	}
	cfg, err := loadConfig(g, dir)
	if err != nil {
		return classify(err)
	}
	// Globs in tollgate.yaml's path lists match under the project directory.
	if err := cfg.ExpandGlobs(dir); err != nil {
		return classify(err)
	}
	if g.failOn != "" {
		// --fail-on overrides every threshold in the file; stage flags below may refine it.
		sev, err := model.ParseSeverity(g.failOn)
		if err != nil {
			return &exitError{code: model.ExitUsage, err: fmt.Errorf("--fail-on: %w", err)}
		}
		cfg.Gate.FailOn = sev
		cfg.Lint.FailOn, cfg.Validate.FailOn, cfg.Score.FailOn, cfg.Scan.FailOn = 0, 0, 0, 0
		cfg.Sign.FailOn, cfg.Attest.FailOn, cfg.Deploy.FailOn = 0, 0, 0
	}
	for _, apply := range appliers {
		apply(cfg)
	}
	if len(stageNames) == 0 {
		stageNames = cfg.Stages
	}
	// Stages named on the command line run even when their config section is absent.
	cfg.Request(stageNames)
	stages, err := pipeline.Select(stageNames)
	if err != nil {
		return &exitError{code: model.ExitUsage, err: err}
	}
	if len(stageNames) == 0 {
		stages = pipeline.SetUp(stages, cfg, dir)
	}
	cacheDir := toolCacheDir(g, cfg)
	results, err := resultCache(g, cfg)
	if err != nil {
		return classify(err)
	}
	var changed *changes.Set
	if g.changed != "" {
		if changed, err = changes.Since(ctx, dir, g.changed); err != nil {
			return classify(err)
		}
		cfgFile := g.config
		if cfgFile == "" {
			cfgFile = filepath.Join(dir, config.FileName)
		}
		if abs, err := filepath.Abs(cfgFile); err == nil && changed.Changes([]string{abs}, nil) != "" {
			changed.All, changed.Why = true, filepath.Base(cfgFile)+" changed"
		}
	}
	auto := !g.noAuto
	if cfg.Tools.AutoInstall != nil && !*cfg.Tools.AutoInstall {
		auto = false
	}
	found, err := discoverInputs(ctx, dir, cfg, stages, args)
	if err != nil {
		return classify(err)
	}
	view := newProgress(g.progress, stderr)
	view.note(found...)
	var names []string
	for _, s := range stages {
		names = append(names, s.Name)
	}
	view.plan(names)
	env := &stage.Env{
		Root:    dir,
		Config:  cfg,
		Tools:   &tools.Installer{CacheDir: cacheDir, AutoInstall: auto, Progress: view.toolWriter()},
		OutDir:  g.outDir,
		Args:    args,
		Now:     time.Now,
		Cache:   results,
		Changed: changed,
	}
	work, err := os.MkdirTemp("", "tollgate-run-*")
	if err != nil {
		return &exitError{code: model.ExitTool, err: fmt.Errorf("scratch dir: %w", err)}
	}
	defer os.RemoveAll(work)
	env.WorkDir = work
	if g.outDir != "" {
		if err := os.MkdirAll(g.outDir, 0o755); err != nil {
			return &exitError{code: model.ExitTool, err: fmt.Errorf("reports dir: %w", err)}
		}
	}
	run := pipeline.Run(ctx, env, stages, view.event)
	view.finish()
	run.Version = Version
	if abs, err := filepath.Abs(dir); err == nil {
		run.Source = abs
	}
	if g.outDir != "" {
		if _, err := report.WriteAll(g.outDir, run); err != nil {
			return &exitError{code: model.ExitTool, err: err}
		}
	}
	if g.format == "table" && isTerminal(stdout) && os.Getenv("NO_COLOR") == "" {
		w = report.NewTable(true)
	}
	if err := w.Write(stdout, run); err != nil {
		return &exitError{code: model.ExitTool, err: err}
	}
	for _, s := range run.Stages {
		if s.Status == model.StatusError {
			fmt.Fprintf(stderr, "tollgate: %s: %s\n", s.Stage, s.Error)
		}
	}
	if p := run.Problem(); p != "" {
		fmt.Fprintf(stderr, "tollgate: %s\n", p)
	}
	if code := run.ExitCode(); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func loadConfig(g *globalOpts, dir string) (*config.Config, error) {
	if g.config != "" {
		return config.Load(g.config, true)
	}
	return config.Load(filepath.Join(dir, config.FileName), false)
}
