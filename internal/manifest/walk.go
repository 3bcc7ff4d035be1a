package manifest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tree"
)

// HelmRenderer renders the Helm chart in chartDir (an absolute path) as `helm template` does,
// returning the rendered multi-document YAML. An *UnavailableError means helm cannot run here:
// the chart is skipped with a note rather than failing the walk.
type HelmRenderer func(ctx context.Context, chartDir string) ([]byte, error)

// UnavailableError says a renderer's tool cannot run (not installed, cannot be built offline).
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Loader walks manifest paths. The zero value (with Root) reads files and kustomizations and
// skips Helm charts with a note.
type Loader struct {
	// Root is the project root: relative paths start there, and Document.File is relative to it.
	Root string
	// Shallow scans ordinary documents instead of decoding them (see Scan).
	Shallow bool
	// Helm renders Helm charts; nil skips them with a note.
	Helm HelmRenderer
	// Skipped collects, after Walk, every input passed over and why (one note each).
	Skipped []Skip
	// Strict makes every file that is passed over bad input instead (file and line): for
	// directories that must hold nothing but Kubernetes objects, such as a policy library.
	Strict bool

	root string // Root, absolute (tools run elsewhere than the current directory)
}

// unitKind is what one input of a walk is.
type unitKind int

const (
	unitFile unitKind = iota
	unitKustomization
	unitChart
)

// unit is one input a walk reads: a manifest file, a kustomization directory or a Helm chart.
type unit struct {
	kind unitKind
	abs  string // absolute path (the directory for kustomizations and charts)
	name string // as shown: slash path relative to Root
}

// LoadAll is Load that also returns the documents of the good inputs when some are bad: the
// caller checks those too and reports every problem in one run. The error is nil, an input
// error (*model.InputError or Errors), or anything else with no documents.
func (l *Loader) LoadAll(ctx context.Context, paths []string) ([]Document, error) {
	var docs []Document
	err := l.Walk(ctx, paths, func(d []Document) error {
		docs = append(docs, d...)
		return nil
	})
	if err != nil && !IsInputError(err) {
		return nil, err
	}
	return docs, err
}

// IsInputError reports whether err is bad input only (exit 2), no tool failure.
func IsInputError(err error) bool {
	var ie *model.InputError
	return errors.As(err, &ie) && !isToolError(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// JoinInputErrors combines input errors (each nil, *model.InputError or Errors) into one,
// sorted by file and line.
func JoinInputErrors(errs ...error) error {
	var all Errors
	for _, err := range errs {
		var many Errors
		var ie *model.InputError
		switch {
		case err == nil:
		case errors.As(err, &many):
			all = append(all, many...)
		case errors.As(err, &ie):
			all = append(all, ie)
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].File != all[j].File {
			return all[i].File < all[j].File
		}
		return all[i].Line < all[j].Line
	})
	return all.err()
}

// Walk reads every document under paths (see Load) and hands them to fn one unit (file,
// kustomization or chart) at a time. A directory walk honours .gitignore and skips hidden and
// vendored directories. Kustomizations are rendered once, from their roots: one that another
// kustomization among the paths uses (a base under its overlays) is checked through that one,
// and kustomize components only through the kustomizations that use them. Every bad input is
// reported (Errors), not only the first; a tool failure or cancellation stops the walk.
func (l *Loader) Walk(ctx context.Context, paths []string, fn func([]Document) error) error {
	l.Skipped = nil
	l.root = l.Root
	if l.root != "" {
		abs, err := filepath.Abs(l.root)
		if err != nil {
			return &model.InputError{File: l.Root, Err: err}
		}
		l.root = abs
	}
	units, errs := l.plan(ctx, paths)
	if err := ctx.Err(); err != nil {
		return err
	}
	units = l.roots(units)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the read-ahead when fn fails
	files := l.readAhead(ctx, units)
	for _, u := range units {
		if err := ctx.Err(); err != nil {
			return err
		}
		var docs []Document
		var skips []Skip
		var err error
		switch u.kind {
		case unitFile:
			ch, ok := <-files // the read-ahead sends one per file unit, or stops on cancel
			if !ok {
				return ctx.Err()
			}
			select {
			case f := <-ch:
				docs, skips, err = f.docs, f.skips, f.err
			case <-ctx.Done():
				return ctx.Err()
			}
		case unitKustomization:
			docs, skips, err = l.loadKustomization(ctx, u)
		case unitChart:
			docs, skips, err = l.loadChart(ctx, u)
		}
		if l.Strict && u.kind == unitFile {
			for _, s := range skips {
				errs = append(errs, &model.InputError{File: s.File, Line: s.Line, Err: errors.New(s.Reason)})
			}
			skips = nil
		}
		l.Skipped = append(l.Skipped, skips...)
		if err != nil {
			var ie *model.InputError
			var many Errors
			switch {
			case errors.As(err, &many):
				errs = append(errs, many...)
			case errors.As(err, &ie) && !isToolError(err):
				errs = append(errs, ie)
			default:
				return err
			}
			continue
		}
		for i := range docs {
			if docs[i].Unit == "" {
				docs[i].Unit = u.name
			}
		}
		if len(docs) > 0 {
			if err := fn(docs); err != nil {
				return err
			}
		}
	}
	return errs.err()
}

// loadedFile is one file unit read ahead of the walk.
type loadedFile struct {
	docs  []Document
	skips []Skip
	err   error
}

// readAhead reads and parses the file units on every core, a bounded distance ahead of the
// walk: one file at a time left a tree of small manifests waiting on one core. It sends, in
// unit order, one channel per file unit that delivers that file; the walk takes them in turn,
// so documents and errors keep their order. Kustomizations and charts are rendered by the walk.
func (l *Loader) readAhead(ctx context.Context, units []unit) <-chan chan loadedFile {
	workers := runtime.GOMAXPROCS(0)
	order := make(chan chan loadedFile, 4*workers) // the read-ahead bound
	sem := make(chan struct{}, workers)
	go func() {
		defer close(order)
		for _, u := range units {
			if u.kind != unitFile {
				continue
			}
			ch := make(chan loadedFile, 1)
			select {
			case order <- ch:
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-sem }()
				var f loadedFile
				f.docs, f.skips, f.err = loadFile(u.abs, u.name, l.Shallow)
				ch <- f
			}()
		}
	}()
	return order
}

func isToolError(err error) bool {
	var te *model.ToolError
	return errors.As(err, &te)
}

// plan lists the units under paths, in walk order, each once.
func (l *Loader) plan(ctx context.Context, paths []string) ([]unit, Errors) {
	var units []unit
	var errs Errors
	seen := map[string]bool{}
	add := func(k unitKind, abs string) {
		if seen[abs] {
			return
		}
		seen[abs] = true
		units = append(units, unit{kind: k, abs: abs, name: rel(l.root, abs)})
	}
	for _, p := range paths {
		if ctx.Err() != nil {
			return nil, nil
		}
		abs := p
		if !filepath.IsAbs(abs) && l.root != "" {
			abs = filepath.Join(l.root, p)
		}
		if a, err := filepath.Abs(abs); err == nil {
			abs = a
		}
		fi, err := os.Stat(abs)
		if err != nil {
			errs = append(errs, &model.InputError{File: p, Err: fmt.Errorf("manifest path: %w", unwrapPathError(err))})
			continue
		}
		switch {
		case !fi.IsDir() && isKustomizationFile(abs):
			add(unitKustomization, filepath.Dir(abs)) // naming the file means "render this kustomization"
		case !fi.IsDir() && isChartFile(abs):
			add(unitChart, filepath.Dir(abs))
		case !fi.IsDir():
			add(unitFile, abs)
		case IsChart(abs):
			add(unitChart, abs)
		default:
			if err := l.planDir(abs, add); err != nil {
				errs = append(errs, &model.InputError{File: rel(l.root, abs), Err: fmt.Errorf("read directory: %w", unwrapPathError(err))})
			}
		}
	}
	return units, errs
}

// planDir walks a directory. A kustomization directory is one unit: its files are patches and
// bases, not standalone objects, but kustomizations below it (overlays, components) are
// units of their own. A Helm chart directory is one unit and is not entered.
func (l *Loader) planDir(dir string, add func(unitKind, string)) error {
	root := l.root
	if root == "" {
		root = dir
	}
	var kustDirs []string
	inKustomization := func(p string) bool {
		for _, k := range kustDirs {
			if strings.HasPrefix(p, k+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	visitDir := func(p string) error {
		switch {
		case IsChart(p):
			add(unitChart, p)
			return tree.SkipDir
		case IsKustomization(p):
			add(unitKustomization, p)
			kustDirs = append(kustDirs, p)
		}
		return nil
	}
	if err := visitDir(dir); errors.Is(err, tree.SkipDir) {
		return nil
	}
	return tree.Walk(root, dir, func(e tree.Entry) error {
		if e.IsDir {
			return visitDir(e.Path)
		}
		if IsManifestFile(e.Path) && !inKustomization(e.Path) && !isKustomizationFile(e.Path) {
			add(unitFile, e.Path)
		}
		return nil
	})
}

// kustomizationRefs is what roots needs from a kustomization file.
type kustomizationRefs struct {
	Kind       string   `yaml:"kind"`
	Resources  []string `yaml:"resources"`
	Bases      []string `yaml:"bases"`
	Components []string `yaml:"components"`
}

// roots drops the kustomizations that another kustomization of the walk uses, and components
// (which kustomize cannot render alone), so each object is rendered through its root only.
func (l *Loader) roots(units []unit) []unit {
	var dirs []string
	for _, u := range units {
		if u.kind == unitKustomization {
			dirs = append(dirs, u.abs)
		}
	}
	if len(dirs) == 0 {
		return units
	}
	ks := SplitKustomizations(dirs)
	keep := map[string]bool{}
	for _, r := range ks.Roots {
		keep[r] = true
	}
	unused := map[string]bool{}
	for _, c := range ks.UnusedComponents {
		unused[c] = true
	}
	var out []unit
	for _, u := range units {
		if u.kind == unitKustomization && !keep[u.abs] {
			if unused[u.abs] {
				l.Skipped = append(l.Skipped, Skip{File: kustomizationFileName(u), Line: 1,
					Reason: "a kustomize Component that no kustomization in the checked paths uses: not checked (kustomize renders a component only as part of a kustomization)"})
			}
			continue
		}
		out = append(out, u)
	}
	return out
}

// Kustomizations sorts kustomization directories by their part in a render.
type Kustomizations struct {
	// Roots are rendered: no other kustomization of the set uses them.
	Roots []string
	// Used are bases (or components) that a root renders; they are not rendered on their own.
	Used []string
	// UnusedComponents are components no kustomization of the set uses: kustomize cannot
	// render a component alone.
	UnusedComponents []string
}

// SplitKustomizations tells, among kustomization directories (absolute, clean), the roots
// from the ones other kustomizations of the set use (a base under its overlays, components),
// by reading each one's resources, bases and components.
func SplitKustomizations(dirs []string) Kustomizations {
	kust := map[string]*kustomizationRefs{}
	for _, d := range dirs {
		kust[d] = readKustomization(d)
	}
	used := map[string]bool{}
	for dir, k := range kust {
		if k == nil {
			continue
		}
		for _, r := range append(append(append([]string{}, k.Resources...), k.Bases...), k.Components...) {
			if isRemote(r) {
				continue
			}
			used[filepath.Clean(filepath.Join(dir, r))] = true
		}
	}
	var out Kustomizations
	for _, d := range dirs {
		k := kust[d]
		switch {
		case used[d]:
			out.Used = append(out.Used, d)
		case k != nil && k.Kind == "Component":
			out.UnusedComponents = append(out.UnusedComponents, d)
		default:
			out.Roots = append(out.Roots, d)
		}
	}
	return out
}

func readKustomization(dir string) *kustomizationRefs {
	for _, n := range kustomizationFiles {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		var k kustomizationRefs
		if yaml.Unmarshal(b, &k) != nil {
			return nil // kustomize reports it when rendering
		}
		return &k
	}
	return nil
}

// isRemote reports whether a kustomization resource is a URL or remote git reference.
func isRemote(r string) bool {
	return strings.Contains(r, "://") || strings.HasPrefix(r, "git@") || strings.HasPrefix(r, "github.com/") ||
		strings.HasPrefix(r, "gitlab.com/") || strings.HasPrefix(r, "bitbucket.org/")
}

// kustomizationFileName is the slash path of a kustomization unit's file.
func kustomizationFileName(u unit) string {
	for _, n := range kustomizationFiles {
		if fi, err := os.Stat(filepath.Join(u.abs, n)); err == nil && !fi.IsDir() {
			return joinName(u.name, n)
		}
	}
	return joinName(u.name, "kustomization.yaml")
}

func joinName(dir, file string) string {
	if dir == "" || dir == "." {
		return file
	}
	return filepath.ToSlash(filepath.Join(dir, file))
}

// IsChart reports whether dir is a Helm chart (holds Chart.yaml).
func IsChart(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil && !fi.IsDir()
}

func isChartFile(p string) bool { return filepath.Base(p) == "Chart.yaml" }

// SortSkips orders notes by file and line.
func SortSkips(s []Skip) {
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].File != s[j].File {
			return s[i].File < s[j].File
		}
		return s[i].Line < s[j].Line
	})
}
