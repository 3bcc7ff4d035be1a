package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/schemas"
	"github.com/tollgate-dev/tollgate/internal/tools"
	"github.com/tollgate-dev/tollgate/internal/validate"
)

// Where the validate stage's inputs are mounted in the kubeconform container.
const (
	validateSchemaDir = "/tollgate/schemas"
	validateWorkDir   = "/tollgate/work"
)

// Validate checks the project's Kubernetes manifests (multi-document YAML, JSON, Lists,
// kustomizations, Helm charts) with the pinned kubeconform against offline schemas: the
// Kubernetes OpenAPI spec of the configured version plus the CustomResourceDefinitions found
// among the inputs or in validate.crds. Strict by default: unknown fields fail. With no paths
// configured, the manifests are discovered. Secret values are redacted before kubeconform
// sees them.
//
// +cache="session"
func (m *Tollgate) Validate(
	ctx context.Context,
	// Manifest files or directories (kustomizations and Helm charts too), relative to the source
	// root; default from tollgate.yaml (validate.paths), else discovered.
	// +optional
	paths []string,
	// Kubernetes version whose schemas to use, e.g. 1.36.0; default from tollgate.yaml.
	// +optional
	kubernetesVersion string,
	// Files or directories with CustomResourceDefinitions, relative to the source root; default
	// from tollgate.yaml (validate.crds).
	// +optional
	crds []string,
	// Pre-built schema directory (the output of `tollgate schemas build`), for engines that
	// cannot reach the Go module proxy. Default: built from the k8s.io/kubernetes module.
	// +optional
	schemaDir *dagger.Directory,
) (*StageReport, error) {
	return m.stage(ctx, validate.Name, validate.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		if kubernetesVersion != "" {
			cfg.Validate.KubernetesVersion = kubernetesVersion
		}
		if len(crds) > 0 {
			cfg.Validate.CRDs = crds
		}
		return m.validate(ctx, cfg, paths, schemaDir)
	})
}

// validate loads the manifests and builds the schemas with the shared Go code in the module
// runtime, runs the kubeconform image (scratch: no shell, binary by absolute path) with the
// shared arguments on the mounted documents and schemas, and reads its output with the shared
// parser.
func (m *Tollgate) validate(ctx context.Context, cfg *config.Config, paths []string, schemaDir *dagger.Directory) (*model.StageResult, error) {
	opts := validate.OptionsFrom(cfg)
	// A bad version is the user's input (exit 2), not a failure to build schemas for it.
	if err := opts.Check(cfg.Path); err != nil {
		return nil, err
	}
	explicit := len(paths) > 0
	defaulted := !explicit && cfg.Validate.PathsDefaulted
	if !explicit {
		paths = cfg.Validate.Paths
	}
	if err := insideSource(append(append([]string{}, paths...), cfg.Validate.CRDs...)); err != nil {
		return nil, err
	}
	// Everything kubeconform reads is written under the module's scratch workdir, so it can be
	// handed back to the engine and mounted.
	sc, err := newScratch("kubeconform", "validate")
	if err != nil {
		return nil, err
	}
	defer sc.remove()
	scratch := sc.rel
	root, err := sc.source(ctx, m, "src")
	if err != nil {
		return nil, err
	}
	// Globs in tollgate.yaml match in the source; with no paths there, the manifests are
	// discovered, as the native runner does.
	if !explicit {
		paths = nil
	}
	if paths, err = manifestPaths(ctx, cfg, root, paths, func(c *config.Config) []string { return c.Validate.Paths }, defaulted); err != nil {
		return nil, sc.scrub(err, root)
	}
	if defaulted && len(paths) == 0 {
		return nothingDiscovered(validate.Name, validate.Tool()), nil
	}
	l := &manifest.Loader{Root: root, Shallow: true, Helm: m.helmRenderer(filepath.Join(scratch, "src"), root, opts.KubernetesVersion)}
	// Bad files do not stop the others: every problem is reported in one run.
	docs, loadErr := l.LoadAll(ctx, paths)
	if loadErr != nil && len(docs) == 0 {
		return nil, sc.scrub(loadErr, root)
	}
	if len(docs) == 0 {
		return nil, validate.NothingFound(paths, l.Skipped)
	}
	var crdDocs []manifest.Document
	if len(cfg.Validate.CRDs) > 0 {
		if crdDocs, err = manifest.Load(ctx, cfg.Validate.CRDs, root); err != nil {
			return nil, sc.scrub(err, root)
		}
	}

	builtin, err := m.validateSchemas(ctx, opts.KubernetesVersion, schemaDir, filepath.Join(scratch, "cache"))
	if err != nil {
		var ie *model.InputError
		if errors.As(err, &ie) { // a schemaDir that is not what it should be: the caller's input
			return nil, sc.scrub(err)
		}
		return nil, sc.scrub(&model.ToolError{Tool: "kubeconform", Err: err})
	}
	work := filepath.Join(scratch, "work")
	plan, err := validate.Prepare(docs, crdDocs, builtin, opts, work)
	if err != nil {
		return nil, sc.scrub(err)
	}
	res := &model.StageResult{Stage: validate.Name, Tool: validate.Tool(), Findings: plan.Findings, Rules: validate.Rules(opts.MissingSchemaSeverity)}
	if plan.Count > 0 {
		ctr := toolImage("kubeconform").
			WithMountedDirectory(validateSchemaDir, dag.CurrentModule().Workdir(builtin)).
			WithMountedDirectory(validateWorkDir, dag.CurrentModule().Workdir(work))
		// The user's schema dirs live in the source: mount them and point kubeconform there.
		for i, loc := range opts.SchemaLocations {
			dir, rest, local := splitSchemaLocation(loc)
			if !local {
				continue
			}
			if err := insideSource([]string{dir}); err != nil {
				return nil, err
			}
			mnt := fmt.Sprintf("/tollgate/user-schemas/%d", i)
			ctr = ctr.WithMountedDirectory(mnt, m.Source.Directory(dir))
			opts.SchemaLocations[i] = mnt + rest
		}
		out, err := runTool(ctx, "kubeconform", ctr, toolArgv("kubeconform", validate.Args(opts, validateSchemaDir, validateWorkDir)), nil)
		if err != nil {
			return nil, sc.scrub(err, root)
		}
		found, err := plan.Parse(out.stdout, out.stderr, out.code)
		if loadErr != nil && (err == nil || manifest.IsInputError(err)) {
			return nil, sc.scrub(manifest.JoinInputErrors(loadErr, err), root)
		}
		if err != nil {
			return nil, sc.scrub(err, root)
		}
		res.Findings = append(res.Findings, found...)
	} else if loadErr != nil {
		return nil, sc.scrub(loadErr, root)
	}
	if res.Findings == nil {
		res.Findings = []model.Finding{}
	}
	validate.AddNotes(res, l.Skipped)
	return res, nil
}

// splitSchemaLocation splits a local schema location (a dir, or a path template) into the
// directory to mount and the rest of the template; URLs are not local.
func splitSchemaLocation(loc string) (dir, rest string, local bool) {
	if strings.Contains(loc, "://") {
		return "", "", false
	}
	prefix, _, isTemplate := strings.Cut(loc, "{{")
	if !isTemplate {
		return path.Clean(loc), "", true
	}
	cut := strings.LastIndex(prefix, "/") // the directory holding the first templated element
	if cut < 0 {
		return ".", "/" + loc, true
	}
	return path.Clean(prefix[:cut]), loc[cut:], true
}

// validateSchemas returns a local dir (relative to the scratch workdir) holding the built-in
// schemas: the user's pre-built dir, or one converted here from the OpenAPI spec that a golang
// container fetches with `go mod download` (checksums verified against go.sum's database).
func (m *Tollgate) validateSchemas(ctx context.Context, k8sVersion string, prebuilt *dagger.Directory, cacheDir string) (string, error) {
	ver := schemas.NormalizeVersion(k8sVersion)
	if prebuilt != nil {
		dir := schemas.Dir(cacheDir, ver)
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		if _, err := prebuilt.Export(ctx, abs); err != nil {
			return "", fmt.Errorf("export schema dir: %w", err)
		}
		ix, err := schemas.LoadIndex(dir)
		if err != nil {
			return "", &model.InputError{File: "schemaDir", Err: fmt.Errorf("not the output of `tollgate schemas build` for %s: %w", ver, err)}
		}
		// Like the native runner: schemas of another version would validate against the wrong API.
		if schemas.NormalizeVersion(ix.KubernetesVersion) != ver {
			return "", &model.InputError{File: "schemaDir", Err: fmt.Errorf("holds schemas for Kubernetes %s, not %s", ix.KubernetesVersion, ver)}
		}
		return dir, nil
	}
	spec := "/go/pkg/mod/" + schemas.Module + "@v" + ver + "/api/openapi-spec/swagger.json"
	swagger := dag.Container().From(tools.GoImage).
		WithMountedCache("/go/pkg/mod", dag.CacheVolume("tollgate-go-mod")).
		WithWorkdir("/tmp").
		WithExec([]string{"go", "mod", "download", schemas.Module + "@v" + ver}).
		// The module cache is a cache mount; copy the spec out so it is part of the result.
		WithExec([]string{"cp", spec, "/swagger.json"}).
		File("/swagger.json")
	local, err := filepath.Abs(filepath.Join(cacheDir, "swagger.json"))
	if err != nil {
		return "", err
	}
	// Inside a module, Export writes into this runtime container, where schemas.Build reads it.
	if _, err := swagger.Export(ctx, local); err != nil {
		return "", fmt.Errorf("fetch %s@v%s: %w", schemas.Module, ver, err)
	}
	return schemas.Build(ctx, schemas.Options{K8sVersion: ver, CacheDir: cacheDir, Swagger: local})
}
