package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/dagger"
	"github.com/tollgate-dev/tollgate/internal/stage"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/score"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// scoreInputDir is where the rendered manifests are mounted in the kube-score container.
const scoreInputDir = "/tollgate/manifests"

// Score scores the project's Kubernetes manifests with the pinned kube-score (security context,
// resources, probes, NetworkPolicy targeting, image tag and pull policy) and gates the result:
// kube-score CRITICAL maps to HIGH and WARNING to MEDIUM unless tollgate.yaml says otherwise.
//
// +cache="session"
func (m *Tollgate) Score(
	ctx context.Context,
	// Manifest files or directories (kustomizations too), relative to the source root; default from
	// tollgate.yaml (score.paths, else validate.paths, else k8s).
	// +optional
	paths []string,
) (*StageReport, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	res, err := m.score(ctx, cfg, paths)
	if err != nil {
		res = model.ErrorResult(score.Name, score.Tool(), err)
	}
	gate.Apply(res, cfg, now())
	return newStageReport(res)
}

// score renders the manifests with the shared loader in the module runtime, runs kube-score in its
// official image with the shared arguments, and reads its output with the shared parser.
func (m *Tollgate) score(ctx context.Context, cfg *config.Config, paths []string) (*model.StageResult, error) {
	o := score.OptionsFrom(cfg)
	if err := o.Check(); err != nil {
		return nil, err
	}
	defaulted := len(paths) == 0 && len(cfg.Score.Paths) == 0 && cfg.Validate.PathsDefaulted
	paths, err := scorePaths(cfg, paths)
	if err != nil {
		return nil, err
	}

	// Bring the source into the runtime container (kustomizations may refer to bases anywhere in it).
	root, err := os.MkdirTemp("", "tollgate-score-src-*")
	if err != nil {
		return nil, &model.ToolError{Tool: "kube-score", Err: err}
	}
	defer os.RemoveAll(root)
	if err := m.exportSource(ctx, root); err != nil {
		return nil, &model.ToolError{Tool: "kube-score", Err: err}
	}
	if r := (&stage.Env{Root: root}).SkipMissingDefaults(score.Name, score.Tool(), defaulted, paths, "set score.paths or validate.paths in tollgate.yaml"); r != nil {
		return r, nil
	}
	docs, err := manifest.Load(ctx, paths, root)
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	if len(docs) == 0 {
		return nil, &model.InputError{Err: fmt.Errorf("no Kubernetes manifests found in %s", strings.Join(paths, ", "))}
	}
	for i := range docs { // report paths relative to the source, not the runtime's temp dir
		if r, err := filepath.Rel(root, docs[i].File); err == nil && !strings.HasPrefix(r, "..") {
			docs[i].File = filepath.ToSlash(r)
		}
	}

	b, err := score.NewBatch(docs)
	if err != nil {
		return nil, &model.ToolError{Tool: "kube-score", Err: err}
	}
	in := dag.Directory()
	files := make([]string, 0, len(b.Inputs))
	for _, f := range b.Inputs {
		in = in.WithNewFile(f.Name, string(f.Content))
		files = append(files, path.Join(scoreInputDir, f.Name))
	}
	args, err := score.Args(o, files)
	if err != nil {
		return nil, &model.InputError{File: o.ConfigFile, Err: err}
	}
	t := tools.MustGet("kube-score")
	ctr := dag.Container().From(t.Image).
		WithMountedDirectory(scoreInputDir, in).
		WithExec(append([]string{t.ImageBinary}, args...), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return nil, &model.ToolError{Tool: "kube-score", Err: fmt.Errorf("run %s: %w", t.Image, err)}
	}
	stdout, err := ctr.Stdout(ctx)
	if err != nil {
		return nil, &model.ToolError{Tool: "kube-score", Err: fmt.Errorf("read output: %w", err)}
	}
	stderr, _ := ctr.Stderr(ctx)
	findings, rules, err := score.Interpret(code, []byte(stdout), []byte(stderr), o, b)
	if err != nil {
		return nil, err
	}
	return &model.StageResult{Stage: score.Name, Tool: score.Tool(), Findings: findings, Rules: rules}, nil
}

// scorePaths picks the manifest paths (arguments, else tollgate.yaml) and keeps them inside the
// source directory.
func scorePaths(cfg *config.Config, paths []string) ([]string, error) {
	if len(paths) == 0 {
		paths = score.ConfigPaths(cfg)
	}
	return paths, insideSource(paths)
}
