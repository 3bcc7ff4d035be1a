package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/policy"
)

// policyInputDir is where gator's input is mounted in its container (distroless, user 65532:
// the mounted file is world-readable).
const policyInputDir = "/tollgate/policy"

// Policy checks the project's Kubernetes manifests against Gatekeeper constraints with the pinned
// gator, as Gatekeeper's admission webhook would judge them (Tollgate's default library, plus
// policy.paths and any templates and constraints among the manifests), and against the Pod
// Security Standards at the level each Namespace declares (default restricted). deny violations
// fail the gate; warn and dryrun ones are reported without blocking.
//
// +cache="session"
func (m *Tollgate) Policy(
	ctx context.Context,
	// Manifest files or directories (kustomizations too), relative to the source root; default from
	// tollgate.yaml (policy.manifests, else validate.paths, else k8s).
	// +optional
	paths []string,
	// Files or directories of extra ConstraintTemplates and Constraints, relative to the source
	// root; default from tollgate.yaml (policy.paths).
	// +optional
	policyPaths []string,
	// Constraints (metadata.name) not to run, on top of tollgate.yaml's policy.disabled.
	// +optional
	disable []string,
	// Pod Security Standards level where no Namespace among the manifests sets one: privileged,
	// baseline or restricted; default from tollgate.yaml (restricted).
	// +optional
	podSecurityLevel string,
) (*StageReport, error) {
	return m.stage(ctx, policy.Name, policy.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		if len(policyPaths) > 0 {
			cfg.Policy.Paths = policyPaths
		}
		cfg.Policy.Disabled = append(cfg.Policy.Disabled, disable...)
		if podSecurityLevel != "" {
			cfg.Policy.PodSecurity.Level = config.PodSecurityLevel(podSecurityLevel)
		}
		return m.policy(ctx, cfg, paths)
	})
}

// policy loads the manifests and the policy set with the shared code in the module runtime,
// evaluates the Pod Security Standards there, runs gator's official image (no shell: binary by
// absolute path) on the shared input with the shared arguments, and reads its output with the
// shared parser.
func (m *Tollgate) policy(ctx context.Context, cfg *config.Config, paths []string) (*model.StageResult, error) {
	o := policy.OptionsFrom(cfg)
	if err := o.Check(); err != nil {
		return nil, err
	}
	explicit := len(paths) > 0
	defaulted := !explicit && len(cfg.Policy.Manifests) == 0 && cfg.Validate.PathsDefaulted
	if _, err := policyPaths(cfg, paths); err != nil {
		return nil, err
	}
	// gator's input goes through the module's workdir, not a GraphQL argument, so manifests
	// (Secrets included) never show in the engine's trace; the source is exported beside it.
	sc, err := newScratch("gator", "policy")
	if err != nil {
		return nil, err
	}
	defer sc.remove()
	root, err := sc.source(ctx, m, "src")
	if err != nil {
		return nil, err
	}
	// Globs match in the source; with no paths in tollgate.yaml the manifests are discovered, as
	// validate and score do.
	if !explicit {
		paths = nil
	}
	if paths, err = manifestPaths(ctx, cfg, root, paths, policy.ConfigManifestPaths, defaulted); err != nil {
		return nil, sc.scrub(err, root)
	}
	if defaulted && len(paths) == 0 {
		return nothingDiscovered(policy.Name, policy.Tool()), nil
	}
	docs, err := manifest.Load(ctx, paths, root)
	if err != nil {
		return nil, sc.scrub(err, root)
	}
	if len(docs) == 0 {
		return nil, &model.InputError{Err: fmt.Errorf("no Kubernetes manifests found in %s", strings.Join(paths, ", "))}
	}
	set, err := policy.LoadSet(ctx, cfg, root, docs)
	if err != nil {
		return nil, sc.scrub(err, root)
	}
	p, err := policy.Prepare(o, set, docs)
	if err != nil {
		return nil, err
	}
	pss, err := p.PodSecurity()
	if err != nil {
		return nil, err
	}
	if !p.NeedsGator() {
		return p.Result(policy.Tool(), nil, pss)
	}
	// gator runs as 65532: the input file is world-readable, in a world-readable directory.
	if err := os.Mkdir(sc.path("in"), 0o755); err != nil {
		return nil, &model.ToolError{Tool: "gator", Err: err}
	}
	if err := os.WriteFile(filepath.Join(sc.path("in"), policy.InputName), p.Batch.Input, 0o644); err != nil {
		return nil, &model.ToolError{Tool: "gator", Err: fmt.Errorf("write gator input: %w", err)}
	}
	args, err := policy.Args(path.Join(policyInputDir, policy.InputName))
	if err != nil {
		return nil, &model.ToolError{Tool: "gator", Err: err}
	}
	out, err := runTool(ctx, "gator", toolImage("gator").WithMountedDirectory(policyInputDir, sc.dir("in")), toolArgv("gator", args), nil)
	if err != nil {
		return nil, sc.scrub(err, root)
	}
	return p.Result(policy.Tool(), out.result(), pss)
}

// policyPaths picks the manifest paths (arguments, else tollgate.yaml) and keeps them, and the
// policy paths, inside the source directory.
func policyPaths(cfg *config.Config, paths []string) ([]string, error) {
	if len(paths) == 0 {
		paths = policy.ConfigManifestPaths(cfg)
	}
	return paths, insideSource(append(append([]string{}, paths...), cfg.Policy.Paths...))
}
