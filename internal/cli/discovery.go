package cli

import (
	"context"
	"fmt"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/discover"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// discoverInputs fills the inputs tollgate.yaml does not name (and the command line does not
// give) from what the project holds: every Dockerfile for lint, every set of manifests for
// validate and score. Configured paths always win. It returns the lines to show, or nil when
// nothing was left to discover.
func discoverInputs(ctx context.Context, dir string, cfg *config.Config, stages []stage.Stage, args []string) ([]string, error) {
	if len(args) > 0 {
		return nil, nil
	}
	selected := map[string]bool{}
	for _, s := range stages {
		selected[s.Name] = true
	}
	needLint := selected["lint"] && cfg.Lint.DockerfilesDefaulted
	needManifests := cfg.Validate.PathsDefaulted && (selected["validate"] || selected["score"] && len(cfg.Score.Paths) == 0)
	if !needLint && !needManifests {
		return nil, nil
	}
	res, err := discover.Discover(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("discover inputs in %s: %w", dir, err)
	}
	var lines []string
	summary := res.Summary()
	if needLint {
		if len(res.Dockerfiles) > 0 {
			cfg.Lint.Dockerfiles = res.Dockerfiles
		}
		lines = append(lines, "discovered "+summary[0])
	}
	if needManifests {
		cfg.Validate.Paths = res.ManifestPaths()
		cfg.Validate.Discovered = true
		lines = append(lines, "discovered "+summary[1])
	}
	return lines, nil
}
