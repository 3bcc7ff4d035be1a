package lint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Stage is the native lint stage: it reads the Dockerfiles named on the command line, else
// lint.dockerfiles from the config, relative to the project root.
func Stage() stage.Stage {
	return stage.Stage{
		Name:  Name,
		Tool:  Tool(),
		Usage: "[DOCKERFILE...]",
		Short: "Lint Dockerfiles with BuildKit's checks and Tollgate's security rules",
		Flags: func(fs *pflag.FlagSet) func(c *config.Config) {
			regs := fs.StringSlice("allowed-registry", nil, "registry (host or host/path) base images may come from; repeatable (overrides lint.allowed-registries)")
			return func(c *config.Config) {
				if fs.Changed("allowed-registry") {
					c.Lint.AllowedRegistries = *regs
				}
			}
		},
		Run: func(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
			paths := env.Args
			// lint.dockerfiles, else the build's Dockerfile (one setting for both stages).
			configured, defaulted := env.Config.LintDockerfiles()
			if len(paths) == 0 {
				paths = configured
			}
			if r := env.SkipMissingDefaults(Name, Tool(), defaulted, paths, "set lint.dockerfiles or build.dockerfile in tollgate.yaml"); r != nil {
				return r, nil
			}
			inputs := make([]Input, 0, len(paths))
			for _, p := range paths {
				in, err := ReadInput(env.Root, p)
				if err != nil {
					return nil, err
				}
				inputs = append(inputs, in)
			}
			return Lint(ctx, OptionsFrom(env.Config), inputs)
		},
		CacheKey: cacheKey,
	}
}

// ReadInput reads the Dockerfile at p (relative to root unless absolute; a directory means its
// Dockerfile) and the ignore file BuildKit would use beside it: <Dockerfile>.dockerignore, else
// .dockerignore. Unreadable files are a *model.InputError naming the path.
func ReadInput(root, p string) (Input, error) {
	full := p
	if !filepath.IsAbs(full) {
		full = filepath.Join(root, p)
	}
	if st, err := os.Stat(full); err == nil && st.IsDir() {
		full, p = filepath.Join(full, "Dockerfile"), filepath.Join(p, "Dockerfile")
	}
	show := filepath.ToSlash(filepath.Clean(p))
	b, err := os.ReadFile(full)
	if err != nil {
		return Input{}, &model.InputError{File: show, Err: fmt.Errorf("read Dockerfile: %w (pass a Dockerfile path or set lint.dockerfiles in tollgate.yaml)", err)}
	}
	in := Input{Path: show, Content: b}
	for _, cand := range []string{full + ".dockerignore", filepath.Join(filepath.Dir(full), ".dockerignore")} {
		ig, err := os.ReadFile(cand)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		rel := filepath.ToSlash(filepath.Join(filepath.Dir(show), filepath.Base(cand)))
		if err != nil {
			return Input{}, &model.InputError{File: rel, Err: fmt.Errorf("read .dockerignore: %w", err)}
		}
		in.DockerIgnore, in.HasDockerIgnore, in.DockerIgnorePath = ig, true, rel
		break
	}
	return in, nil
}
