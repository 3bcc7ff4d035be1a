package score

import (
	"context"

	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// cacheKey covers everything a scoring depends on: the kube-score build, Tollgate's own build (it
// maps checks to severities and findings back to files), the score section and the validate
// settings it borrows (paths, Kubernetes version), every manifest input (kustomize bases and
// generator files included), and whether kube-score's raw output is kept as an artifact.
func cacheKey(_ context.Context, env *stage.Env) (*resultcache.Key, error) {
	k := env.Cache.NewKey(Name)
	k.Tool(env.Tools, toolName)
	section := env.Config.Score
	section.FailOn = 0 // applied by the gate when the result is read
	k.Value("config", section)
	v := env.Config.Validate // score borrows the manifest paths and the Kubernetes version
	k.Value("validate-config", []any{v.Paths, v.PathsDefaulted, v.KubernetesVersion})
	k.Value("options", OptionsFrom(env.Config))
	k.Value("args", env.Args)
	k.Value("artifacts", env.OutDir != "")
	if k.Manifests("manifests", env.Root, Paths(env)) {
		k.Tool(env.Tools, "helm") // charts are rendered with the pinned helm
	}
	// Notes about inputs passed over are score's to report only when validate does not run.
	k.Value("validate-in-run", env.Runs("validate"))
	return k, nil
}
