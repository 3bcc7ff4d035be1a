package policy

import (
	"context"

	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// cacheKey covers everything a policy check depends on: the gator build, Tollgate's own build
// (it carries the default library and the Pod Security Standards checks), the policy section of
// the config (the gate's threshold aside) and the validate paths it borrows, the manifests, the
// project's own policies (policy.paths) and whether gator's raw output is kept as an artifact.
func cacheKey(_ context.Context, env *stage.Env) (*resultcache.Key, error) {
	k := env.Cache.NewKey(Name)
	k.Tool(env.Tools, toolName)
	section := env.Config.Policy
	section.FailOn = 0 // applied by the gate when the result is read
	k.Value("config", section)
	v := env.Config.Validate
	k.Value("validate-config", []any{v.Paths, v.PathsDefaulted, v.KubernetesVersion})
	k.Value("config-file", env.Config.Path)
	k.Value("options", OptionsFrom(env.Config))
	k.Value("args", env.Args)
	k.Value("artifacts", env.OutDir != "")
	if k.Manifests("manifests", env.Root, ManifestPaths(env)) {
		k.Tool(env.Tools, "helm")
	}
	k.Manifests("policies", env.Root, env.Config.Policy.Paths)
	return k, nil
}
