package sbom

import (
	"context"
	"os"
	"path/filepath"

	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// cacheKey covers everything an SBOM depends on: the syft build and the syft config files in the
// home directory it would read, Tollgate's own build, the formats, the image (a built image by
// its digest, a local archive or layout by its content, a registry reference by the digest it
// resolves to now) and the name the SBOM gives it, and whether the SBOM files are kept as
// artifacts (they are restored into --out on a hit).
func cacheKey(ctx context.Context, env *stage.Env) (*resultcache.Key, error) {
	k := env.Cache.NewKey(Name)
	k.Tool(env.Tools, "syft")
	if home, err := os.UserHomeDir(); err == nil {
		for _, f := range []string{".syft.yaml", ".syft/config.yaml", ".config/syft/config.yaml"} {
			k.Data("syft-config:~/"+f, filepath.Join(home, f))
		}
	}
	k.Value("formats", env.Config.SBOM.Formats)
	k.Value("artifacts", env.OutDir != "")
	input := Input(env)
	if input == "" {
		k.NotCacheable("no image")
		return k, nil
	}
	if b := env.BuiltImage(); b != nil && input == b.Archive {
		image.KeyBuilt(k, b.Digest, b.Platforms)
		k.String("subject", builtSubject(env.Config, b))
		return k, nil
	}
	image.AddKey(ctx, k, input, env.Path)
	return k, nil
}
