package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/discover"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// What the validate and score functions share: discovery of the manifests when tollgate.yaml
// names none, Helm charts rendered in helm's official image, and errors cleaned of the module
// runtime's scratch paths.

// helmChartDir is where a chart is mounted in the helm container.
const helmChartDir = "/apps/chart"

// discoveredManifests finds the manifest sets of the exported source at root (kustomization
// roots, Helm charts, manifest directories), as the native runner does with no tollgate.yaml.
func discoveredManifests(ctx context.Context, root string) ([]string, error) {
	res, err := discover.Discover(ctx, root)
	if err != nil {
		return nil, &model.ToolError{Tool: "tollgate", Err: fmt.Errorf("discover manifests: %w", scrubPaths(err, root))}
	}
	return res.ManifestPaths(), nil
}

// nothingDiscovered is the result of a manifest stage when discovery found nothing to check.
func nothingDiscovered(stage string, tool model.Tool) *model.StageResult {
	return &model.StageResult{Stage: stage, Tool: tool, Status: model.StatusSkipped, Findings: []model.Finding{},
		Error: "nothing to check: no Kubernetes manifests found (looked for kustomizations, Helm charts and YAML or JSON files with apiVersion and kind); set validate.paths in tollgate.yaml"}
}

// helmRenderer renders the charts of the source exported at root (srcRel is the same directory
// relative to the module's workdir, which the engine can mount) in the pinned helm image.
func (m *Tollgate) helmRenderer(srcRel, root, kubeVersion string) manifest.HelmRenderer {
	t := tools.MustGet("helm")
	return func(ctx context.Context, chartDir string) ([]byte, error) {
		rel, err := filepath.Rel(root, chartDir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, &model.InputError{File: chartDir, Err: errors.New("a Helm chart outside the source")}
		}
		ctr := dag.Container().From(t.Image).
			WithMountedDirectory(helmChartDir, dag.CurrentModule().Workdir(filepath.Join(srcRel, rel))).
			WithWorkdir("/tmp")
		for _, kv := range manifest.HelmEnv("/tmp/helm") {
			k, v, _ := strings.Cut(kv, "=")
			ctr = ctr.WithEnvVariable(k, v)
		}
		ctr = ctr.WithExec(append([]string{t.ImageBinary}, manifest.HelmTemplateArgs(helmChartDir, kubeVersion)...),
			dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
		code, err := ctr.ExitCode(ctx)
		if err != nil {
			return nil, &model.ToolError{Tool: "helm", Err: fmt.Errorf("run %s: %w", t.Image, err)}
		}
		stderr, _ := ctr.Stderr(ctx)
		if code != 0 {
			return nil, &manifest.HelmError{Stderr: stderr}
		}
		stdout, err := ctr.Stdout(ctx)
		if err != nil {
			return nil, &model.ToolError{Tool: "helm", Err: fmt.Errorf("read output: %w", err)}
		}
		return []byte(stdout), nil
	}
}

// scrubPaths removes the module runtime's scratch directories from an error's message, so
// users see their own paths ("k8s/app.yaml"), never "tollgate-validate-123/cache/...". The
// error keeps its kind (bad input: exit 2; tool failure: exit 3).
func scrubPaths(err error, dirs ...string) error {
	if err == nil {
		return nil
	}
	clean := func(s string) string {
		for _, d := range dirs {
			if d == "" {
				continue
			}
			for _, p := range []string{filepath.ToSlash(d) + "/", d + string(filepath.Separator), d} {
				s = strings.ReplaceAll(s, p, "")
			}
		}
		return s
	}
	var many manifest.Errors
	var ie *model.InputError
	var te *model.ToolError
	switch {
	case errors.As(err, &many):
		out := make(manifest.Errors, len(many))
		for i, e := range many {
			out[i] = &model.InputError{File: clean(e.File), Line: e.Line, Err: errors.New(clean(e.Err.Error()))}
		}
		return out
	case errors.As(err, &te):
		return &model.ToolError{Tool: te.Tool, Err: errors.New(clean(te.Err.Error()))}
	case errors.As(err, &ie):
		return &model.InputError{File: clean(ie.File), Line: ie.Line, Err: errors.New(clean(ie.Err.Error()))}
	}
	return errors.New(clean(err.Error()))
}
