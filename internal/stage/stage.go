// Package stage is the seam between the pipeline and the stages: what a native stage gets
// (Env) and what it is (Stage). Stage packages import it; the pipeline runs them.
package stage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/tollgate-dev/tollgate/internal/changes"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Env is what every native stage gets: the project, its config, tools and a place for artifacts.
type Env struct {
	Root   string         // project root
	Config *config.Config // effective config (file + flags)
	Tools  *tools.Installer
	OutDir string // reports/artifacts directory ("" writes none)
	// Args are per-stage positional inputs from the CLI (files or an image), overriding config.
	Args []string
	// Progress receives detail lines from long stages (tool installs, DB loads). Never nil
	// inside a stage run by the pipeline.
	Progress func(stage, msg string)
	// Now is the clock for ignore expiry.
	Now func() time.Time
	// Shared passes values between dependent stages (e.g. the normalised image). Keys are
	// owned by the stage that writes them.
	Shared *Shared
	// WorkDir is scratch space that lives for the whole run and is removed after it (e.g. an OCI
	// archive extracted once for both sbom and scan). "" means stages use private temp dirs.
	WorkDir string
	// Results returns the gated results of the stages that have finished so far in this run, in
	// pipeline order (e.g. for a provenance attestation). Nil outside a pipeline run.
	Results func() []*model.StageResult
	// Cache, when set, stores raw results of stages that have a CacheKey and serves them to later
	// runs with the same key (nil: every stage runs).
	Cache *resultcache.Cache
	// Changed, when set (`tollgate run --changed REV`), holds the project files changed since a
	// git revision: a stage whose inputs did not change is served from the cache or skipped.
	Changed *changes.Set
	// Started is when the pipeline run began (zero outside a pipeline run), e.g. for provenance.
	Started time.Time
	// Selected names the stages of this run (set by the pipeline), so stages that read the same
	// inputs can agree which one reports notes about them.
	Selected []string
}

// Runs reports whether the named stage is part of this run.
func (e *Env) Runs(name string) bool {
	for _, s := range e.Selected {
		if s == name {
			return true
		}
	}
	return false
}

// Path resolves p against the project root unless it is absolute.
func (e *Env) Path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(e.Root, p)
}

// Stage is one pipeline step. Run returns the raw result; the pipeline applies the gate.
// An error from Run becomes a StatusError result (*model.InputError exits 2, others 3).
type Stage struct {
	Name  string
	Tool  model.Tool // the tool that produces findings (for error results)
	Needs []string   // stages that must finish first, when selected
	Run   func(ctx context.Context, env *Env) (*model.StageResult, error)
	// Flags, when set, registers stage-specific CLI flags on fs and returns a function that
	// copies the flags the user actually set (fs.Changed) into the config, so flags override
	// tollgate.yaml and unset flags leave it alone.
	Flags func(fs *pflag.FlagSet) func(c *config.Config)
	// Usage is the positional-argument synopsis for `tollgate <stage>` (e.g. "[DOCKERFILE...]").
	Usage string
	// Short is the one-line help of `tollgate <stage>`.
	Short string
	// AfterGates marks a release stage (push, sign, deploy...): it starts only after every
	// selected stage without AfterGates has finished, and is skipped unless all of them passed
	// their gates (skipped ones count as passed). Release stages order among themselves by Needs.
	AfterGates bool
	// OptIn, when set, says whether the stage is set up in this project (a build or push
	// section, a signing key, a cluster to deploy to...). A run that names no stages leaves out
	// opt-in stages that are not set up, so a plain `tollgate run` shows only what it checks;
	// named on the command line or in tollgate.yaml's stages, they run and explain a skip.
	OptIn func(c *config.Config, root string) bool
	// DirArg makes the positional argument of `tollgate <stage> [DIR]` the project directory
	// (like `tollgate run [DIR]`) instead of an input of the stage.
	DirArg bool
	// CacheKey, when set, makes the stage's raw result cacheable: it returns a key covering
	// everything the result depends on (tool build, effective config, input digests; see
	// internal/resultcache). It must be cheap next to Run and must not install or download
	// anything. A key that is not Cacheable, or an error, just means the stage runs. Stages with
	// side effects (build, push, sign, deploy) have none.
	CacheKey func(ctx context.Context, env *Env) (*resultcache.Key, error)
}

// SkipMissingDefaults returns a skipped result when a stage's inputs are the config defaults
// (not named by the user) and none of them exist: a project without manifests, or without a
// Dockerfile, is not an error. It returns nil when the stage should run.
func (e *Env) SkipMissingDefaults(stageName string, tool model.Tool, defaulted bool, paths []string, hint string) *model.StageResult {
	if len(e.Args) > 0 || !defaulted {
		return nil
	}
	for _, p := range paths {
		if _, err := os.Stat(e.Path(p)); err == nil {
			return nil
		}
	}
	return &model.StageResult{Stage: stageName, Tool: tool, Status: model.StatusSkipped, Findings: []model.Finding{},
		Error: fmt.Sprintf("nothing to check: %s not found (%s)", strings.Join(paths, ", "), hint)}
}

// NoManifests is the skip reason of a manifest stage that found nothing to check; hint says where
// to name inputs (e.g. "set validate.paths in tollgate.yaml").
func NoManifests(stageName string, tool model.Tool, hint string) *model.StageResult {
	return &model.StageResult{Stage: stageName, Tool: tool, Status: model.StatusSkipped, Findings: []model.Finding{},
		Error: "nothing to check: no Kubernetes manifests found (looked for kustomizations, Helm charts and YAML or JSON files with apiVersion and kind); " + hint}
}
