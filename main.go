// Tollgate is a secure delivery pipeline for containerised apps: it lints the Dockerfile,
// validates and scores Kubernetes manifests, generates an SBOM, scans the image for CVEs and
// gates each stage, failing closed. Every stage here runs the same Go code and the same pinned
// tool versions as the native `tollgate` CLI.
package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/dagger"
	"github.com/tollgate-dev/tollgate/internal/model"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// Tollgate holds the project under test and its configuration.
type Tollgate struct {
	// Project source directory (Dockerfile, manifests, tollgate.yaml). Private: the constructor's
	// --source sets it, and a Query field named "source" would shadow nothing useful.
	// +private
	Source *dagger.Directory
	// Explicit tollgate.yaml; when unset, tollgate.yaml at the source root is used if present.
	// +private
	Config *dagger.File
}

// sourceExcludes are left out of the project source: VCS data, dependencies and Tollgate's own
// reports dir, none of which a stage reads, and all of which would only defeat caching.
var sourceExcludes = []string{"**/.git", "**/node_modules", "tollgate-reports"}

// New creates the pipeline for a project: by default the directory you run dagger in, whether
// the module is installed as a toolchain (`dagger toolchain install`) or called with -m.
func New(
	// The caller's workspace, set by Dagger (not a flag): its current directory is the project
	// when --source is not given. (A +defaultPath would name the module's own repository when
	// called with -m, and every stage would check Tollgate instead of your project.)
	ws *dagger.Workspace,
	// Project directory to check (Dockerfile, manifests, tollgate.yaml); default: the directory
	// you run dagger in, without .git, node_modules and tollgate-reports.
	// +optional
	source *dagger.Directory,
	// Configuration file (tollgate.yaml); default: the one at the source root, if any.
	// +optional
	config *dagger.File,
) (*Tollgate, error) {
	if source == nil {
		if ws == nil {
			return nil, errors.New("tollgate: no project: pass --source=DIR (no workspace to default to)")
		}
		source = ws.Directory(".", dagger.WorkspaceDirectoryOpts{Exclude: sourceExcludes})
	}
	return &Tollgate{Source: source, Config: config}, nil
}

// loadConfig reads the explicit config, else tollgate.yaml at the source root, else defaults.
func (m *Tollgate) loadConfig(ctx context.Context) (*config.Config, error) {
	f := m.Config
	name := "config"
	if f == nil {
		ok, err := m.Source.Exists(ctx, config.FileName)
		if err != nil {
			return nil, fmt.Errorf("look for %s: %w", config.FileName, err)
		}
		if !ok {
			return config.Default(), nil
		}
		f, name = m.Source.File(config.FileName), config.FileName
	} else if n, err := f.Name(ctx); err == nil {
		name = n
	}
	b, err := f.Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return config.Parse(name, []byte(b))
}

// now is the clock for ignore expiry; a function so tests of pure parts can stay deterministic.
func now() time.Time { return time.Now() }

// exportSource copies the project source (without VCS data and dependencies) into dir in the
// module's runtime container, where the shared Go code (manifest loading, kustomize) reads it.
// Inside a module, Export writes to the runtime container, not the caller's host.
func (m *Tollgate) exportSource(ctx context.Context, dir string) error {
	src := m.Source.Filter(dagger.DirectoryFilterOpts{Exclude: []string{".git", "node_modules"}})
	if _, err := src.Export(ctx, dir); err != nil {
		return fmt.Errorf("export source: %w", err)
	}
	return nil
}

// insideSource rejects paths that leave the source directory: the module only sees the source.
func insideSource(paths []string) error {
	for _, p := range paths {
		if c := path.Clean(p); path.IsAbs(p) || c == ".." || strings.HasPrefix(c, "../") {
			return &model.InputError{File: p, Err: errors.New("paths must lie inside the source directory: the module sees only the source")}
		}
	}
	return nil
}
