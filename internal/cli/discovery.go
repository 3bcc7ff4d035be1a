package cli

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"

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
	// validate, score, policy and deploy all read validate.paths unless their own list is set.
	needManifests := cfg.Validate.PathsDefaulted && (selected["validate"] || selected["score"] && len(cfg.Score.Paths) == 0 ||
		selected["policy"] && len(cfg.Policy.Manifests) == 0 || selected["deploy"] && len(cfg.Deploy.Paths) == 0)
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
		cfg.Validate.Paths = outside(res.ManifestPaths(), cfg.Policy.Paths)
		cfg.Validate.Discovered = true
		lines = append(lines, "discovered "+summary[1])
	}
	return lines, nil
}

// outside drops the paths that lie in one of dirs: a project's own policy library
// (policy.paths) holds ConstraintTemplates and Constraints for the policy stage, not manifests
// to validate, score, judge or deploy.
func outside(paths, dirs []string) []string {
	var out []string
	for _, p := range paths {
		in := false
		for _, d := range dirs {
			d = path.Clean(filepath.ToSlash(d))
			if c := path.Clean(filepath.ToSlash(p)); c == d || strings.HasPrefix(c, d+"/") {
				in = true
			}
		}
		if !in {
			out = append(out, p)
		}
	}
	return out
}
