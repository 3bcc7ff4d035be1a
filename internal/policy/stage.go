package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// ManifestPaths are the manifests the stage checks: the command line's, else policy.manifests,
// else validate.paths.
func ManifestPaths(env *stage.Env) []string {
	if len(env.Args) > 0 {
		return env.Args
	}
	return ConfigManifestPaths(env.Config)
}

// ConfigManifestPaths are the manifest paths from tollgate.yaml.
func ConfigManifestPaths(c *config.Config) []string {
	if len(c.Policy.Manifests) > 0 {
		return c.Policy.Manifests
	}
	return c.Validate.Paths
}

// LoadSet reads the policy set: the default library (when on), policy.paths (relative to root)
// and the templates and constraints among the manifests.
func LoadSet(ctx context.Context, c *config.Config, root string, manifests []manifest.Document) (*Set, error) {
	var lib []manifest.Document
	if c.Policy.DefaultLibraryOn() {
		var err error
		if lib, err = LoadLibrary(); err != nil {
			return nil, err
		}
	}
	paths, err := loadPaths(ctx, root, c.Policy.Paths)
	if err != nil {
		return nil, err
	}
	return NewSet(lib, paths, manifests)
}

// Stage is the native policy stage.
func Stage() stage.Stage {
	return stage.Stage{
		Name:  Name,
		Tool:  Tool(),
		Usage: "[PATH...]",
		Short: "Check Kubernetes manifests against Gatekeeper policies (gator) and the Pod Security Standards",
		Run:   run,
		Flags: flags,

		CacheKey: cacheKey,
	}
}

func flags(fs *pflag.FlagSet) func(c *config.Config) {
	paths := fs.StringSlice("policy-path", nil, "file or directory of extra ConstraintTemplates and Constraints; repeatable (overrides policy.paths)")
	noLib := fs.Bool("no-default-policies", false, "leave out Tollgate's default policy library (policy.default-library: false)")
	disable := fs.StringSlice("disable-constraint", nil, "constraint (metadata.name) not to run; repeatable (adds to policy.disabled)")
	level := fs.String("pod-security-level", "", "Pod Security Standards level where no Namespace sets one: privileged, baseline or restricted (policy.pod-security.level)")
	version := fs.String("pod-security-version", "", "Pod Security Standards version: latest or v1.N (policy.pod-security.version)")
	return func(c *config.Config) {
		if fs.Changed("policy-path") {
			c.Policy.Paths = *paths
		}
		if fs.Changed("no-default-policies") {
			on := !*noLib
			c.Policy.DefaultLibrary = &on
		}
		if fs.Changed("disable-constraint") {
			c.Policy.Disabled = append(c.Policy.Disabled, *disable...)
		}
		if fs.Changed("pod-security-level") {
			c.Policy.PodSecurity.Level = config.PodSecurityLevel(*level)
		}
		if fs.Changed("pod-security-version") {
			c.Policy.PodSecurity.Version = config.PodSecurityVersion(*version)
		}
	}
}

func run(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	o := OptionsFrom(env.Config)
	if err := o.Check(); err != nil {
		return nil, err
	}
	paths := ManifestPaths(env)
	if len(env.Args) == 0 && len(env.Config.Policy.Manifests) == 0 && env.Config.Validate.Discovered && len(paths) == 0 {
		return stage.NoManifests(Name, Tool(), "set policy.manifests or validate.paths in tollgate.yaml"), nil
	}
	defaulted := len(env.Config.Policy.Manifests) == 0 && env.Config.Validate.PathsDefaulted
	if r := env.SkipMissingDefaults(Name, Tool(), defaulted, paths, "set policy.manifests or validate.paths in tollgate.yaml"); r != nil {
		return r, nil
	}
	// The same loader as validate and score (charts rendered with the pinned helm, shared per
	// run), so every stage judges the same objects.
	docs, err := (&manifest.Loader{Root: env.Root, Helm: manifest.EnvHelm(env, env.Config.Validate.KubernetesVersion)}).Load(ctx, paths)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, &model.InputError{Err: fmt.Errorf("no Kubernetes manifests found in %s", strings.Join(paths, ", "))}
	}
	set, err := LoadSet(ctx, env.Config, env.Root, docs)
	if err != nil {
		return nil, err
	}
	bin, err := env.Tools.Ensure(ctx, toolName)
	if err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: err}
	}
	version := tools.MustGet(toolName).Version
	if env.Progress != nil {
		env.Progress(Name, fmt.Sprintf("checking %d document(s) against %d constraint(s) with gator %s and the Pod Security Standards (%s:%s)",
			len(docs), len(set.Constraints), version, o.PodSecurityLevel, o.PodSecurityVersion))
		if set.Skipped > 0 {
			env.Progress(Name, fmt.Sprintf("ignored %d document(s) under policy.paths that are neither ConstraintTemplates nor Constraints", set.Skipped))
		}
	}
	return Runner{Binary: bin, Version: version, OutDir: env.OutDir, Timeout: env.Config.Policy.TimeoutDuration()}.Check(ctx, o, set, docs)
}
