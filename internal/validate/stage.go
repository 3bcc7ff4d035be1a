package validate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/schemas"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Tool is the tool reported for this stage (version filled in when the binary is known).
func Tool() model.Tool { return model.Tool{Name: toolName, Version: tools.MustGet(toolName).Version} }

// Stage is the native validate stage.
func Stage() stage.Stage {
	return stage.Stage{
		Name:  Name,
		Tool:  Tool(),
		Usage: "[PATH...]",
		Short: "Validate Kubernetes manifests against offline schemas with kubeconform (strict, CRD-aware)",
		Run:   run,
		Flags: flags,

		CacheKey: cacheKey,
	}
}

func flags(fs *pflag.FlagSet) func(c *config.Config) {
	k8s := fs.String("kubernetes-version", "", "Kubernetes version whose schemas to validate against (default 1.36.0)")
	strict := fs.Bool("strict", true, "reject unknown fields")
	crds := fs.StringSlice("crds", nil, "files or directories with CustomResourceDefinitions for custom resources")
	locs := fs.StringSlice("schema-location", nil, "extra kubeconform schema location (dir or URL template), tried after the built-in schemas")
	return func(c *config.Config) {
		if fs.Changed("kubernetes-version") {
			c.Validate.KubernetesVersion = *k8s
		}
		if fs.Changed("strict") {
			c.Validate.Strict = strict
		}
		if fs.Changed("crds") {
			c.Validate.CRDs = *crds
		}
		if fs.Changed("schema-location") {
			c.Validate.SchemaLocations = *locs
		}
	}
}

// NothingDiscovered is the skipped result of a stage reading manifests when discovery found
// none (and tollgate.yaml names none).
func NothingDiscovered(env *stage.Env, name string, tool model.Tool, paths []string) *model.StageResult {
	if len(env.Args) > 0 || !env.Config.Validate.Discovered || len(paths) > 0 {
		return nil
	}
	return stage.NoManifests(name, tool, "set validate.paths in tollgate.yaml")
}

func run(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	if r := NothingDiscovered(env, Name, Tool(), env.Config.Validate.Paths); r != nil {
		return r, nil
	}
	if r := env.SkipMissingDefaults(Name, Tool(), env.Config.Validate.PathsDefaulted, env.Config.Validate.Paths, "set validate.paths in tollgate.yaml"); r != nil {
		return r, nil
	}
	opts := OptionsFrom(env.Config)
	opts.Workers = runtime.NumCPU()
	if err := opts.Check(env.Config.Path); err != nil {
		return nil, err
	}
	for i, l := range opts.SchemaLocations {
		if !strings.Contains(l, "://") { // a local dir or template: relative to the project
			opts.SchemaLocations[i] = filepath.ToSlash(env.Path(l))
		}
	}
	progress := func(msg string) {
		if env.Progress != nil {
			env.Progress(Name, msg)
		}
	}
	paths := env.Config.Validate.Paths
	if len(env.Args) > 0 {
		paths = env.Args
	}
	var crds []manifest.Document
	if len(env.Config.Validate.CRDs) > 0 {
		var err error
		if crds, err = manifest.Load(ctx, env.Config.Validate.CRDs, env.Root); err != nil {
			return nil, err
		}
	}
	// kubeconform's validator is linked in (inprocess.go): its version is the pin's.
	version := tools.MustGet(toolName).Version
	builtin, err := findBuiltinSchemas(ctx, &opts, env.Tools.CacheDir, progress)
	if err != nil {
		if len(opts.SchemaLocations) == 0 {
			return nil, &model.ToolError{Tool: toolName, Err: err}
		}
		progress(fmt.Sprintf("warning: no built-in schemas (%v); using validate.schema-locations only", err))
		builtin = ""
	}
	progress(fmt.Sprintf("validating %s with kubeconform %s against Kubernetes %s schemas", strings.Join(paths, ", "), version, opts.KubernetesVersion))
	// kubeconform parses every document itself: a header scan is all Tollgate needs from most.
	l := &manifest.Loader{Root: env.Root, Shallow: true, Helm: manifest.EnvHelm(env, opts.KubernetesVersion)}
	// Bad files do not stop the others: every problem of the run is reported at once.
	docs, loadErr := l.LoadAll(ctx, paths)
	if loadErr != nil && len(docs) == 0 {
		return nil, loadErr
	}
	if len(docs) == 0 {
		return nil, NothingFound(paths, l.Skipped)
	}
	res, err := Validate(ctx, docs, crds, builtin, opts)
	if loadErr != nil && (err == nil || manifest.IsInputError(err)) {
		return nil, manifest.JoinInputErrors(loadErr, err)
	}
	if err != nil {
		return nil, err
	}
	res.Tool.Version = version
	AddNotes(res, l.Skipped)
	return res, nil
}

// NothingFound is the error for paths that hold no Kubernetes object at all: the user named
// them (or discovery did), so checking nothing is bad input, with what was passed over.
func NothingFound(paths []string, skipped []manifest.Skip) error {
	msg := fmt.Sprintf("no Kubernetes manifests found in %s", strings.Join(paths, ", "))
	if n := len(skipped); n > 0 {
		msg += fmt.Sprintf(" (%d input(s) not checked, e.g. %s: %s)", n, skipped[0].File, skipped[0].Reason)
	}
	return &model.InputError{Err: errors.New(msg)}
}

// AddNotes adds a note per input the walk passed over, and reports once what several rendered
// objects share.
func AddNotes(res *model.StageResult, skipped []manifest.Skip) {
	manifest.SortSkips(skipped)
	res.Findings = manifest.MergeFindings(append(res.Findings, manifest.SkipFindings(res.Stage, skipped)...))
	if len(skipped) > 0 {
		res.Rules = append(res.Rules, manifest.SkippedRule())
	}
	SortFindings(res.Findings)
}

// findBuiltinSchemas finds the built-in schemas: a schema location that is a dir made by
// `tollgate schemas build` for this version (how air-gapped machines bring them), else the cache,
// building them on first use.
func findBuiltinSchemas(ctx context.Context, opts *Options, cacheDir string, progress func(string)) (string, error) {
	for i, l := range opts.SchemaLocations {
		if ix, err := schemas.LoadIndex(l); err == nil && ix.KubernetesVersion == schemas.NormalizeVersion(opts.KubernetesVersion) {
			opts.SchemaLocations = append(opts.SchemaLocations[:i:i], opts.SchemaLocations[i+1:]...)
			return l, nil
		}
	}
	return schemas.Build(ctx, schemas.Options{K8sVersion: opts.KubernetesVersion, CacheDir: cacheDir, Progress: progress})
}

// Validate validates loaded documents with kubeconform's validator, linked in at the pinned
// version (see inprocess.go), and returns the ungated result.
func Validate(ctx context.Context, docs, crds []manifest.Document, builtinDir string, opts Options) (*model.StageResult, error) {
	return validate(ctx, docs, crds, builtinDir, opts, func(ctx context.Context, plan *Plan, work string) ([]model.Finding, error) {
		return plan.inProcess(ctx, Locations(opts, builtinDir, filepath.ToSlash(filepath.Join(work, CRDDir))), opts.Workers)
	})
}

// ValidateBinary is Validate with the kubeconform binary at bin, run on Prepare's batch files as
// the Dagger module runs the kubeconform image: tests hold both ways to the same findings.
func ValidateBinary(ctx context.Context, bin string, docs, crds []manifest.Document, builtinDir string, opts Options) (*model.StageResult, error) {
	return validate(ctx, docs, crds, builtinDir, opts, func(ctx context.Context, plan *Plan, work string) ([]model.Finding, error) {
		if err := plan.writeDocs(work); err != nil {
			return nil, err
		}
		out, err := tools.Run(ctx, toolName, tools.Cmd{Path: bin, Args: Args(opts, builtinDir, work), Timeout: 10 * time.Minute})
		if err != nil {
			return nil, err
		}
		return plan.Parse(out.Stdout, out.Stderr, out.ExitCode)
	})
}

func validate(ctx context.Context, docs, crds []manifest.Document, builtinDir string, opts Options,
	check func(ctx context.Context, plan *Plan, work string) ([]model.Finding, error)) (*model.StageResult, error) {
	start := time.Now()
	work, err := os.MkdirTemp("", "tollgate-validate-*")
	if err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: err}
	}
	defer os.RemoveAll(work)
	plan, err := newPlan(docs, crds, builtinDir, opts, work)
	if err != nil {
		return nil, err
	}
	res := &model.StageResult{Stage: Name, Tool: Tool(), Findings: plan.Findings, Rules: Rules(opts.MissingSchemaSeverity)}
	if plan.Count > 0 {
		found, err := check(ctx, plan, work)
		if err != nil {
			return nil, err
		}
		res.Findings = append(res.Findings, found...)
	}
	if res.Findings == nil {
		res.Findings = []model.Finding{}
	}
	SortFindings(res.Findings)
	res.Duration = time.Since(start)
	return res, nil
}

// SortFindings orders findings by file, line, resource and message.
func SortFindings(fs []model.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i].Location, fs[j].Location
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		return fs[i].Message < fs[j].Message
	})
}
