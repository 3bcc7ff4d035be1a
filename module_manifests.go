package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/discover"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
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

// manifestPaths picks a manifest stage's paths once the source is exported at root, as the
// native runner does: the function's arguments, else tollgate.yaml's paths (configured, with
// its globs expanded in the source), else, when tollgate.yaml names none (defaulted), the
// manifest sets discovered there. An empty list from discovery means nothing to check.
func manifestPaths(ctx context.Context, cfg *config.Config, root string, args []string, configured func(*config.Config) []string, defaulted bool) ([]string, error) {
	if err := cfg.ExpandGlobs(root); err != nil {
		return nil, err
	}
	if len(args) > 0 {
		return args, insideSource(args)
	}
	if defaulted {
		return discoveredManifests(ctx, root)
	}
	paths := configured(cfg)
	return paths, insideSource(paths)
}

// nothingDiscovered is the result of a manifest stage when discovery found nothing to check.
func nothingDiscovered(stage string, tool model.Tool) *model.StageResult {
	return &model.StageResult{Stage: stage, Tool: tool, Status: model.StatusSkipped, Findings: []model.Finding{},
		Error: "nothing to check: no Kubernetes manifests found (looked for kustomizations, Helm charts and YAML or JSON files with apiVersion and kind); set validate.paths in tollgate.yaml"}
}

// helmRenderer renders the charts of the source exported at root (srcRel is the same directory
// relative to the module's workdir, which the engine can mount) in the pinned helm image.
func (m *Tollgate) helmRenderer(srcRel, root, kubeVersion string) manifest.HelmRenderer {
	return func(ctx context.Context, chartDir string) ([]byte, error) {
		rel, err := filepath.Rel(root, chartDir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, &model.InputError{File: chartDir, Err: errors.New("a Helm chart outside the source")}
		}
		ctr := toolImage("helm").
			WithMountedDirectory(helmChartDir, dag.CurrentModule().Workdir(filepath.Join(srcRel, rel))).
			WithWorkdir("/tmp")
		for _, kv := range manifest.HelmEnv("/tmp/helm") {
			k, v, _ := strings.Cut(kv, "=")
			ctr = ctr.WithEnvVariable(k, v)
		}
		out, err := runTool(ctx, "helm", ctr, toolArgv("helm", manifest.HelmTemplateArgs(helmChartDir, kubeVersion)), nil)
		if err != nil {
			return nil, err
		}
		if out.code != 0 {
			return nil, &manifest.HelmError{Stderr: string(out.stderr)}
		}
		return out.stdout, nil
	}
}
