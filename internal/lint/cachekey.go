package lint

import (
	"context"
	"os"
	"path/filepath"

	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// cacheKey covers everything Lint reads: each Dockerfile and both ignore files BuildKit might
// use beside it (present or not), the lint options (rule settings, allowed registries, the
// build's ARG values, the config file named in messages) and Tollgate's own build, since the
// rules are Tollgate's code. The gate's threshold and ignore list are applied at read time.
func cacheKey(_ context.Context, env *stage.Env) (*resultcache.Key, error) {
	k := env.Cache.NewKey(Name)
	paths := env.Args
	configured, defaulted := env.Config.LintDockerfiles()
	if len(paths) == 0 {
		paths = configured
	}
	k.Value("paths", paths)
	k.Value("paths-defaulted", defaulted && len(env.Args) == 0)
	k.Value("options", OptionsFrom(env.Config))
	for _, p := range paths {
		full := env.Path(p)
		if st, err := os.Stat(full); err == nil && st.IsDir() {
			full = filepath.Join(full, "Dockerfile")
		}
		k.File("dockerfile:"+p, full)
		k.File("dockerignore-beside:"+p, full+".dockerignore")
		k.File("dockerignore:"+p, filepath.Join(filepath.Dir(full), ".dockerignore"))
	}
	return k, nil
}
