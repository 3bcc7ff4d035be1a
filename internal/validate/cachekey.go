package validate

import (
	"context"
	"fmt"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/schemas"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// cacheKey covers everything a validation depends on: Tollgate's own build (kubeconform's
// validator is linked into it, and it prepares the documents and reads the verdicts; every key
// holds it), the validate section of
// the config (the gate's threshold aside), every manifest input (kustomize bases and generator
// files included), the CRD inputs and the schema set: the built-in schemas for the Kubernetes
// version and every local schema location. A schema location that is a URL cannot be covered,
// so such a validation is never cached.
func cacheKey(_ context.Context, env *stage.Env) (*resultcache.Key, error) {
	k := env.Cache.NewKey(Name)
	section := env.Config.Validate
	section.FailOn = 0 // applied by the gate when the result is read
	k.Value("config", section)
	k.Value("config-file", env.Config.Path)
	opts := OptionsFrom(env.Config)
	k.Value("options", opts)
	paths := env.Config.Validate.Paths
	if len(env.Args) > 0 {
		paths = env.Args
	}
	k.Value("args", env.Args)
	if k.Manifests("manifests", env.Root, paths) {
		k.Tool(env.Tools, "helm") // charts are rendered with the pinned helm
	}
	if len(env.Config.Validate.CRDs) > 0 {
		if k.Manifests("crds", env.Root, env.Config.Validate.CRDs) {
			k.Tool(env.Tools, "helm")
		}
	}
	builtinFound := false
	for i, l := range opts.SchemaLocations {
		if strings.Contains(l, "://") {
			k.NotCacheable("validate.schema-locations has a URL (" + l + "): remote schemas can change unseen")
			continue
		}
		dir := l
		if j := strings.Index(dir, "{{"); j >= 0 { // a template: hash the directory it starts in
			dir = dir[:j]
		}
		dir = env.Path(dir)
		if ix, err := schemas.LoadIndex(dir); err == nil && ix.KubernetesVersion == opts.KubernetesVersion {
			builtinFound = true
		}
		k.Tree(fmt.Sprintf("schema-location[%d]", i), dir, nil)
	}
	if !builtinFound {
		if env.Tools == nil {
			k.NotCacheable("no tool cache for the built-in schemas")
			return k, nil
		}
		dir := schemas.Dir(env.Tools.CacheDir, opts.KubernetesVersion)
		if _, err := schemas.LoadIndex(dir); err != nil {
			k.Pending("the schemas for Kubernetes " + opts.KubernetesVersion + " are not built yet")
			return k, nil
		}
		k.Data("schemas", dir)
	}
	return k, nil
}
