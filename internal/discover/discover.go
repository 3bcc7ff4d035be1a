// Package discover finds what Tollgate can check in a project that has not said: every
// Dockerfile, and every set of Kubernetes manifests (kustomization roots, Helm charts,
// directories of plain manifests), walking the tree the way the manifest walk does (honouring
// .gitignore, passing over hidden and vendored directories). The CLI uses it when tollgate.yaml
// names no inputs, and `tollgate init` writes a tollgate.yaml from it.
package discover

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/tree"
)

// Result is what a project holds, as slash paths relative to its root.
type Result struct {
	// Dockerfiles are files named Dockerfile, *.Dockerfile, Dockerfile.* or Containerfile.
	Dockerfiles []string
	// Kustomizations are the kustomization roots: rendered once each, with their bases and
	// components.
	Kustomizations []string
	// Bases are kustomizations that a root renders (bases, components): not checked alone.
	Bases []string
	// Charts are Helm charts (directories with Chart.yaml), rendered with `helm template`.
	Charts []string
	// Dirs are directories of plain manifests (YAML or JSON files with Kubernetes objects),
	// each walked with its subdirectories; Files are plain manifests at the project root,
	// named one by one so the whole project is not walked.
	Dirs  []string
	Files []string
}

// ManifestPaths are the paths validate and score check: kustomization roots, charts,
// manifest directories and root-level manifest files, in path order.
func (r *Result) ManifestPaths() []string {
	var out []string
	out = append(out, r.Kustomizations...)
	out = append(out, r.Charts...)
	out = append(out, r.Dirs...)
	out = append(out, r.Files...)
	sort.Strings(out)
	// A directory's walk covers everything under it (the walk finds kustomizations and charts
	// there by itself and renders them the same way).
	var kept []string
	for _, p := range out {
		if !underAny(p, out) {
			kept = append(kept, p)
		}
	}
	return kept
}

// Empty reports whether nothing checkable was found.
func (r *Result) Empty() bool { return len(r.Dockerfiles) == 0 && len(r.ManifestPaths()) == 0 }

// Summary is a few lines saying what was found, for the progress output.
func (r *Result) Summary() []string {
	var lines []string
	if len(r.Dockerfiles) == 0 {
		lines = append(lines, "no Dockerfile")
	} else {
		lines = append(lines, fmt.Sprintf("%s: %s", plural(len(r.Dockerfiles), "Dockerfile"), list(r.Dockerfiles, 4)))
	}
	var sets []string
	if n := len(r.Kustomizations); n > 0 {
		s := fmt.Sprintf("%s (%s)", plural(n, "kustomization"), list(r.Kustomizations, 3))
		if len(r.Bases) > 0 {
			s += fmt.Sprintf(", and %d more rendered through them (bases, components)", len(r.Bases))
		}
		sets = append(sets, s)
	}
	if n := len(r.Charts); n > 0 {
		sets = append(sets, fmt.Sprintf("%s (%s)", plural(n, "Helm chart"), list(r.Charts, 3)))
	}
	if n := len(r.Dirs); n > 0 {
		sets = append(sets, fmt.Sprintf("%s (%s)", plural(n, "manifest directory"), list(r.Dirs, 3)))
	}
	if n := len(r.Files); n > 0 {
		sets = append(sets, fmt.Sprintf("%s (%s)", plural(n, "manifest file"), list(r.Files, 3)))
	}
	if len(sets) == 0 {
		lines = append(lines, "no Kubernetes manifests")
	} else {
		lines = append(lines, "Kubernetes manifests: "+strings.Join(sets, "; "))
	}
	return lines
}

// Discover walks root and returns what Tollgate can check there.
func Discover(ctx context.Context, root string) (*Result, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	r := &Result{}
	var kustDirs []string
	manifestDirs := map[string]bool{}
	inKustomization := func(p string) bool {
		for _, k := range kustDirs {
			if strings.HasPrefix(p, k+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	visitDir := func(abs string) error {
		switch {
		case manifest.IsChart(abs):
			r.Charts = append(r.Charts, relSlash(root, abs))
			return tree.SkipDir // templates are not manifests; subcharts render with it
		case manifest.IsKustomization(abs):
			kustDirs = append(kustDirs, abs)
		}
		return nil
	}
	if err := visitDir(root); err == tree.SkipDir {
		return r, nil
	}
	err = tree.Walk(root, root, func(e tree.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir {
			return visitDir(e.Path)
		}
		name := filepath.Base(e.Path)
		if IsDockerfile(name) {
			r.Dockerfiles = append(r.Dockerfiles, e.Rel)
			return nil
		}
		if !manifest.IsManifestFile(name) || inKustomization(e.Path) {
			return nil
		}
		if holdsObjects(e.Path, e.Rel) {
			manifestDirs[filepath.Dir(e.Path)] = true
			if filepath.Dir(e.Path) == root {
				r.Files = append(r.Files, e.Rel)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ks := manifest.SplitKustomizations(kustDirs)
	for _, k := range ks.Roots {
		r.Kustomizations = append(r.Kustomizations, relSlash(root, k))
	}
	for _, k := range append(ks.Used, ks.UnusedComponents...) {
		r.Bases = append(r.Bases, relSlash(root, k))
	}
	for d := range manifestDirs {
		if d != root {
			r.Dirs = append(r.Dirs, relSlash(root, d))
		}
	}
	sort.Strings(r.Dirs)
	sort.Strings(r.Bases)
	return r, nil
}

// holdsObjects reports whether a YAML or JSON file is a Kubernetes manifest, as the manifest
// walk will decide: it has objects, or it is broken in a way the walk reports (a file that
// mentions apiVersion or kind but does not parse).
func holdsObjects(abs, rel string) bool {
	fi, err := os.Stat(abs)
	if err != nil || fi.Size() > manifest.MaxFileSize {
		return false
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return false
	}
	docs, _, err := manifest.Classify(rel, b)
	return len(docs) > 0 || err != nil
}

// IsDockerfile reports whether a file name is a Dockerfile: Dockerfile, *.Dockerfile,
// Dockerfile.* (but not Dockerfile.dockerignore or documentation) or Containerfile.
func IsDockerfile(name string) bool {
	lower := strings.ToLower(name)
	switch {
	case lower == "dockerfile" || lower == "containerfile":
		return true
	case strings.HasSuffix(lower, ".dockerfile"):
		return true
	case strings.HasPrefix(lower, "dockerfile."):
		switch path.Ext(lower) {
		case ".dockerignore", ".md", ".txt", ".orig", ".bak", ".rej", ".swp", ".yaml", ".yml", ".json":
			return false
		}
		return true
	}
	return false
}

func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if d != p && d != "." && strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

func relSlash(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(r)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	switch {
	case strings.HasSuffix(word, "y") && !strings.HasSuffix(word, "ey"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(word, "y"))
	case strings.HasSuffix(word, "s"):
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", and %d more", len(items)-n)
}
