package resultcache

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// kustomizationFiles are the file names kustomize looks for in a directory.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Manifests adds the Kubernetes manifest inputs at paths (files or directories, relative to
// root): every file under each directory (hidden ones aside, as the manifest reader skips
// them), and for every kustomization found, every local file or directory its kustomization
// file names — bases and components outside the tree included, followed recursively. Reading
// more than the reader does only costs a rerun now and then; reading less would serve stale
// results. A kustomization resource that is not a local path (a git or HTTP URL) makes the key
// not cacheable: its content can change with no local trace.
//
// It reports whether the inputs hold a Helm chart (a Chart.yaml): the stage then renders with
// helm, whose build belongs in the key too.
func (k *Key) Manifests(name, root string, paths []string) (charts bool) {
	m := manifestKey{k: k, seen: map[string]bool{}}
	k.Value(name+":paths", paths)
	for _, p := range paths {
		abs := p
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(root, p)
		}
		m.path(name+":"+p, abs)
	}
	return m.charts
}

type manifestKey struct {
	k      *Key
	seen   map[string]bool
	charts bool
}

// skipInTree leaves out hidden entries, except .helmignore, which changes what helm renders.
func skipInTree(rel string, d fs.DirEntry) bool {
	return SkipHidden(rel, d) && d.Name() != ".helmignore"
}

// path hashes a file or a tree, then follows the kustomizations in it.
func (m *manifestKey) path(part, abs string) {
	abs = filepath.Clean(abs)
	if m.seen[abs] {
		return
	}
	m.seen[abs] = true
	fi, err := os.Stat(abs)
	if err != nil || !fi.IsDir() {
		m.k.File(part, abs)
		if err == nil && isKustomizationFile(abs) {
			m.follow(filepath.Dir(abs))
		}
		if filepath.Base(abs) == "Chart.yaml" {
			m.charts = true
			m.path(part+":chart", filepath.Dir(abs))
		}
		return
	}
	m.k.Tree(part, abs, skipInTree)
	_ = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && p != abs && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		switch {
		case d.IsDir():
		case isKustomizationFile(p):
			m.follow(filepath.Dir(p))
		case d.Name() == "Chart.yaml":
			m.charts = true
		}
		return nil
	})
}

func isKustomizationFile(p string) bool {
	base := filepath.Base(p)
	for _, n := range kustomizationFiles {
		if base == n {
			return true
		}
	}
	return false
}

// follow adds what the kustomization in dir refers to outside what is already hashed.
func (m *manifestKey) follow(dir string) {
	for _, n := range kustomizationFiles {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		var doc any
		if yaml.Unmarshal(b, &doc) != nil {
			continue // the stage reports the broken kustomization; its bytes are in the key
		}
		top, _ := doc.(map[string]any)
		for _, field := range []string{"resources", "bases", "components"} {
			list, _ := top[field].([]any)
			for _, v := range list {
				s, ok := v.(string)
				if !ok {
					continue
				}
				if _, err := os.Stat(filepath.Join(dir, s)); err != nil {
					m.k.NotCacheable("kustomization " + filepath.Join(dir, n) + " uses " + s + ", which is not a local path")
				}
			}
		}
		m.refs(dir, doc)
	}
}

// refs walks every string in a kustomization and hashes those naming a local file or directory
// (generator sources may be written key=path).
func (m *manifestKey) refs(dir string, v any) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for key := range t {
			keys = append(keys, key)
		}
		sort.Strings(keys) // parts must come in the same order every run
		for _, key := range keys {
			m.refs(dir, t[key])
		}
	case []any:
		for _, x := range t {
			m.refs(dir, x)
		}
	case string:
		cands := []string{t}
		if _, after, ok := strings.Cut(t, "="); ok {
			cands = append(cands, after)
		}
		for _, c := range cands {
			c = strings.TrimSpace(c)
			if c == "" || strings.ContainsAny(c, "\n\x00") || strings.Contains(c, "://") {
				continue
			}
			p := c
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, c)
			}
			if m.covered(p) {
				continue
			}
			if _, err := os.Stat(p); err == nil {
				m.path("kustomize-ref:"+p, p)
			}
		}
	}
}

// covered reports whether p lies in a tree already hashed (or is a file already hashed).
func (m *manifestKey) covered(p string) bool {
	p = filepath.Clean(p)
	for q := range m.seen {
		if p == q || strings.HasPrefix(p, q+string(filepath.Separator)) {
			fi, err := os.Stat(q)
			if err == nil && (fi.IsDir() || p == q) {
				// A hidden file inside a hashed tree was skipped by the tree: hash it on its own.
				rel, _ := filepath.Rel(q, p)
				if hiddenPart(rel) {
					return false
				}
				return true
			}
		}
	}
	return false
}

func hiddenPart(rel string) bool {
	for _, s := range strings.Split(filepath.ToSlash(rel), "/") {
		if strings.HasPrefix(s, ".") && s != "." && s != ".." {
			return true
		}
	}
	return false
}
