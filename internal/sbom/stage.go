package sbom

import (
	"cmp"
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Stage is the native SBOM stage. Its input is the image in env.Args[0], else sbom.image, else
// scan.image; with none configured the stage is skipped, not failed.
func Stage() stage.Stage {
	return stage.Stage{
		Name:  Name,
		Tool:  Tool(),
		Needs: []string{"build"}, // describe the image built in this run, when there is one
		Usage: "[IMAGE]",
		Short: "Generate the image's SBOM (SPDX 2.3 and CycloneDX 1.6 JSON) with syft",
		Flags: flags,
		Run:   run,

		CacheKey: cacheKey,
	}
}

// Input is the image the stage describes: the positional IMAGE, else the image built in this
// run, else sbom.image, else scan.image ("" when there is none).
func Input(env *stage.Env) string {
	if len(env.Args) > 0 && strings.TrimSpace(env.Args[0]) != "" {
		return env.Args[0]
	}
	if b := env.BuiltImage(); b != nil {
		return b.Archive
	}
	if env.Config.SBOM.Image != "" {
		return env.Config.SBOM.Image
	}
	return env.Config.Scan.Image
}

func run(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	start := time.Now()
	input := Input(env)
	if input == "" {
		return &model.StageResult{Stage: Name, Status: model.StatusSkipped, Tool: Tool(), Findings: []model.Finding{},
			Error: "no image to describe: pass one (tollgate sbom IMAGE) or set sbom.image or scan.image in tollgate.yaml"}, nil
	}
	formats, err := FormatsFor(env.Config.SBOM.Formats)
	if err != nil {
		return nil, &model.InputError{File: env.Config.Path, Err: err}
	}
	progress := func(msg string) {
		if env.Progress != nil {
			env.Progress(Name, msg)
		}
	}
	subject := strings.TrimSpace(input) // as configured, before it is made absolute
	if b := env.BuiltImage(); b != nil && input == b.Archive {
		subject = builtSubject(env.Config, b)
	}
	// A relative file input is relative to the project root; anything else is a reference.
	if p := env.Path(input); !strings.Contains(input, "://") {
		if _, err := os.Stat(p); err == nil {
			input = p
		}
	}
	var src *image.Source
	workDir := env.WorkDir
	if env.WorkDir != "" {
		// Run-scoped scratch: open once, shared with the scan stage running beside us.
		src, err = image.Shared(ctx, env.Shared, input, env.WorkDir)
	} else {
		dir, derr := os.MkdirTemp("", "tollgate-sbom-*")
		if derr != nil {
			return nil, &model.ToolError{Tool: "syft", Err: derr}
		}
		defer os.RemoveAll(dir)
		workDir = dir
		src, err = image.Open(ctx, input, dir)
	}
	if err != nil {
		return nil, err
	}
	// Bad input is reported before a missing tool: the input is what the user can fix first.
	if env.Tools == nil {
		return nil, &model.ToolError{Tool: "syft", Err: errors.New("no tool installer configured")}
	}
	syft, err := env.Tools.Ensure(ctx, "syft")
	if err != nil {
		return nil, &model.ToolError{Tool: "syft", Err: err}
	}
	if src.Note != "" {
		progress(src.Note)
	}
	progress("describing " + src.Name() + " with syft " + Tool().Version)
	// Without a reports dir the SBOMs still go to the run's scratch dir, for the attest stage.
	res, err := Generate(ctx, Request{Syft: syft, Source: src, Formats: formats, OutDir: cmp.Or(env.OutDir, env.WorkDir),
		Creds: image.CredentialsFromEnv(), Timeout: DefaultTimeout, WorkDir: workDir, Subject: subjectName(subject, src)})
	if err != nil {
		return nil, err
	}
	if len(res.Artifacts) > 0 {
		progress(res.Artifacts[0].Name)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// flags registers `tollgate sbom` flags; only flags the user set override tollgate.yaml.
func flags(fs *pflag.FlagSet) func(c *config.Config) {
	formats := fs.StringSlice("sbom-format", nil, "SBOM formats to write, comma-separated: "+strings.Join(FormatNames(), ", ")+" (default both)")
	img := fs.String("sbom-image", "", "image to describe (default: scan.image); a positional IMAGE wins")
	return func(c *config.Config) {
		if fs.Changed("sbom-format") {
			c.SBOM.Formats = *formats
		}
		if fs.Changed("sbom-image") {
			c.SBOM.Image = *img
		}
	}
}

// subjectName is how the SBOM names its image: the registry reference pinned by digest, or the
// file as the user configured it (relative to the project), never a temp path.
func subjectName(input string, src *image.Source) string {
	if src.Kind == image.KindRegistry {
		return src.Ref
	}
	return input
}

// builtSubject names an image built in this run by its digest: repository@digest when it will
// be pushed, else Dockerfile@digest (never the scratch path of the archive).
func builtSubject(c *config.Config, b *stage.BuiltImage) string {
	if c.Push.Repository != "" {
		return c.Push.Repository + "@" + b.Digest
	}
	return c.Build.DockerfilePath() + "@" + b.Digest
}
