package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/score"
)

// scoreInputDir is where the documents are mounted in the kube-score container.
const scoreInputDir = "/tollgate/manifests"

// Score scores the project's Kubernetes manifests with the pinned kube-score (security context,
// resources, probes, NetworkPolicy targeting, image tag and pull policy) and gates the result:
// kube-score CRITICAL maps to HIGH and WARNING to MEDIUM unless tollgate.yaml says otherwise.
// With no paths configured, the manifests are discovered (kustomization roots, Helm charts,
// manifest directories). Secrets are never handed to kube-score (it does not score them).
//
// +cache="session"
func (m *Tollgate) Score(
	ctx context.Context,
	// Manifest files or directories (kustomizations and Helm charts too), relative to the source
	// root; default from tollgate.yaml (score.paths, else validate.paths), else discovered.
	// +optional
	paths []string,
) (*StageReport, error) {
	return m.stage(ctx, score.Name, score.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		return m.score(ctx, cfg, paths)
	})
}

// score loads the manifests with the shared loader in the module runtime and runs kube-score in
// its official image through the shared orchestration (score.Run), which also reads its output.
func (m *Tollgate) score(ctx context.Context, cfg *config.Config, paths []string) (*model.StageResult, error) {
	o := score.OptionsFrom(cfg)
	if err := o.Check(); err != nil {
		return nil, err
	}
	explicit := len(paths) > 0
	defaulted := !explicit && len(cfg.Score.Paths) == 0 && cfg.Validate.PathsDefaulted
	paths, err := scorePaths(cfg, paths)
	if err != nil {
		return nil, err
	}
	// Everything kube-score reads is written under the module's workdir, so the engine can
	// mount it: tool inputs never travel as inline file contents.
	sc, err := newScratch("kube-score", "score")
	if err != nil {
		return nil, err
	}
	defer sc.remove()
	// Bring the source into the runtime (kustomizations may refer to bases anywhere in it).
	srcRel := filepath.Join(sc.rel, "src")
	root, err := sc.source(ctx, m, "src")
	if err != nil {
		return nil, err
	}
	if !explicit {
		paths = nil
	}
	if paths, err = manifestPaths(ctx, cfg, root, paths, score.ConfigPaths, defaulted); err != nil {
		return nil, sc.scrub(err, root)
	}
	if defaulted && len(paths) == 0 {
		return nothingDiscovered(score.Name, score.Tool()), nil
	}
	l := &manifest.Loader{Root: root, Helm: m.helmRenderer(srcRel, root, o.KubernetesVersion)}
	docs, err := l.Load(ctx, paths)
	if err != nil {
		return nil, sc.scrub(err, root)
	}
	if len(docs) == 0 {
		return nil, &model.InputError{Err: fmt.Errorf("no Kubernetes manifests found in %s", strings.Join(paths, ", "))}
	}

	exec := func(ctx context.Context, inputs []score.Input) (int, []byte, []byte, error) {
		dir, err := os.MkdirTemp(sc.rel, "in-*")
		if err != nil {
			return 0, nil, nil, &model.ToolError{Tool: "kube-score", Err: err}
		}
		files := make([]string, 0, len(inputs))
		for _, in := range inputs {
			if err := os.WriteFile(filepath.Join(dir, in.Name), in.Content, 0o644); err != nil {
				return 0, nil, nil, &model.ToolError{Tool: "kube-score", Err: fmt.Errorf("write input: %w", err)}
			}
			files = append(files, path.Join(scoreInputDir, in.Name))
		}
		args, err := score.Args(o, files)
		if err != nil {
			return 0, nil, nil, &model.InputError{File: o.ConfigFile, Err: err}
		}
		ctr := toolImage("kube-score").WithMountedDirectory(scoreInputDir, dag.CurrentModule().Workdir(dir))
		out, err := runTool(ctx, "kube-score", ctr, toolArgv("kube-score", args), nil)
		if err != nil {
			return 0, nil, nil, err
		}
		return out.code, out.stdout, out.stderr, nil
	}
	out, err := score.Run(ctx, o, docs, exec)
	if err != nil {
		return nil, sc.scrub(err, root)
	}
	res := &model.StageResult{Stage: score.Name, Tool: score.Tool(), Findings: out.Findings, Rules: out.Rules}
	// validate walks the same paths and reports what was passed over; score does when
	// tollgate.yaml leaves validate out.
	var notes []manifest.Skip
	if len(cfg.Stages) > 0 && !slices.Contains(cfg.Stages, "validate") {
		notes = l.Skipped
	}
	score.AddNotes(res, notes)
	return res, nil
}

// scorePaths picks the manifest paths (arguments, else tollgate.yaml) and keeps them inside the
// source directory.
func scorePaths(cfg *config.Config, paths []string) ([]string, error) {
	if len(paths) == 0 {
		paths = score.ConfigPaths(cfg)
	}
	return paths, insideSource(paths)
}
