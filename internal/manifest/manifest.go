// Package manifest reads Kubernetes manifests the way a user writes them — files, directories,
// multi-document YAML, JSON, `List` kinds, kustomization directories — into one flat list of
// documents that remember where they came from. Bad input is a *model.InputError naming the
// file and line, caught here before any tool sees it.
package manifest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// MaxFileSize is the largest manifest file Load reads. Real manifest sets are far smaller; a
// bigger file is almost always a mistake (a log, an archive) and parsing it would look like a hang.
const MaxFileSize = 20 << 20

// Document is one Kubernetes object read from an input file.
type Document struct {
	File       string // path as given (relative to project root when possible)
	Index      int    // 0-based document index within File (List items keep the List's index)
	Line       int    // 1-based line where the document (or List item) starts; 0 if unknown
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Object     map[string]any // decoded object
	Raw        []byte         // the document as YAML/JSON bytes (a List item re-encoded as JSON)
	// RawLine is the 1-based line in File where Raw starts (Raw may begin with `---` or comments
	// before Line); 0 when Raw is not the file's own text (List items, rendered kustomize output).
	RawLine int
}

// Resource returns "Kind/namespace/name" (namespace omitted when empty).
func (d Document) Resource() string {
	if d.Namespace == "" {
		return d.Kind + "/" + d.Name
	}
	return d.Kind + "/" + d.Namespace + "/" + d.Name
}

// Group is the API group of the document ("" for the core group).
func (d Document) Group() string {
	g, _, ok := strings.Cut(d.APIVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// Version is the API version without the group ("v1" for "apps/v1").
func (d Document) Version() string {
	if _, v, ok := strings.Cut(d.APIVersion, "/"); ok {
		return v
	}
	return d.APIVersion
}

// Load expands paths (files; directories recursively with .yaml/.yml/.json; kustomization
// directories rendered with kustomize's krusty), splits multi-document YAML, unwraps `kind: List`
// (and other *List kinds with items) and returns the documents in a stable order. Relative paths
// are resolved against root; Document.File is relative to root when the file lies under it.
// Empty documents are skipped. Bad input returns *model.InputError with File and Line.
func Load(ctx context.Context, paths []string, root string) ([]Document, error) {
	var docs []Document
	err := Walk(ctx, paths, root, func(d []Document) error {
		docs = append(docs, d...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// Walk is Load delivering the documents one file (or kustomization) at a time, in Load's order,
// so a consumer can start work before the last file is read. An error from fn stops the walk.
func Walk(ctx context.Context, paths []string, root string, fn func([]Document) error) error {
	return walk(ctx, paths, root, false, fn)
}

// Scan is Walk for a consumer that hands the documents' text to a tool that parses them anyway
// (kubeconform): it reads apiVersion, kind and metadata.name/namespace/generateName from the
// text of each block-style YAML document without decoding the rest, so Object holds only those
// fields and a syntax error in the rest of such a document is left to the consumer. Documents
// the scan cannot read with certainty (flow style, anchors, non-string names...), JSON, Lists
// and CustomResourceDefinitions are decoded in full, as Walk does, with the same errors.
func Scan(ctx context.Context, paths []string, root string, fn func([]Document) error) error {
	return walk(ctx, paths, root, true, fn)
}

func walk(ctx context.Context, paths []string, root string, shallow bool, fn func([]Document) error) error {
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		abs := p
		if !filepath.IsAbs(abs) && root != "" {
			abs = filepath.Join(root, p)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return &model.InputError{File: p, Err: fmt.Errorf("manifest path: %w", unwrapPathError(err))}
		}
		switch {
		case !fi.IsDir() && isKustomizationFile(abs):
			// Naming the kustomization file means "render this kustomization".
			err = emit(loadKustomization(ctx, filepath.Dir(abs), rel(root, filepath.Dir(abs)), shallow))(fn)
		case !fi.IsDir():
			err = emit(loadFile(abs, rel(root, abs), shallow))(fn)
		default:
			err = walkDir(ctx, abs, root, shallow, fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func emit(docs []Document, err error) func(func([]Document) error) error {
	return func(fn func([]Document) error) error {
		if err != nil {
			return err
		}
		if len(docs) == 0 {
			return nil
		}
		return fn(docs)
	}
}

// walkDir walks a directory. A directory holding a kustomization file is rendered as one unit
// and its files are not read on their own (they are patches and bases, not standalone objects).
func walkDir(ctx context.Context, dir, root string, shallow bool, fn func([]Document) error) error {
	if IsKustomization(dir) {
		return emit(loadKustomization(ctx, dir, rel(root, dir), shallow))(fn)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &model.InputError{File: rel(root, dir), Err: fmt.Errorf("read directory: %w", unwrapPathError(err))}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue // .git, editor swap files
		}
		p := filepath.Join(dir, name)
		if e.IsDir() {
			if err := walkDir(ctx, p, root, shallow, fn); err != nil {
				return err
			}
			continue
		}
		if !IsManifestFile(name) {
			continue
		}
		if err := emit(loadFile(p, rel(root, p), shallow))(fn); err != nil {
			return err
		}
	}
	return nil
}

// IsManifestFile reports whether a file name has a manifest extension.
func IsManifestFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func isKustomizationFile(p string) bool {
	for _, n := range kustomizationFiles {
		if filepath.Base(p) == n {
			return true
		}
	}
	return false
}

// IsKustomization reports whether dir holds a kustomization file.
func IsKustomization(dir string) bool {
	for _, n := range kustomizationFiles {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

func loadFile(abs, name string, shallow bool) ([]Document, error) {
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, &model.InputError{File: name, Err: unwrapPathError(err)}
	}
	if fi.Size() > MaxFileSize {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("file is %d MB, over the %d MB limit for a manifest file; split it or check it is really a manifest",
			fi.Size()>>20, MaxFileSize>>20)}
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return nil, &model.InputError{File: name, Err: unwrapPathError(err)}
	}
	return parse(name, b, shallow)
}

// Parse decodes the bytes of one manifest file (YAML, multi-document YAML or JSON) named name.
func Parse(name string, b []byte) ([]Document, error) { return parse(name, b, false) }

func parse(name string, b []byte, shallow bool) ([]Document, error) {
	if len(b) > MaxFileSize {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("file is %d MB, over the %d MB limit for a manifest file", len(b)>>20, MaxFileSize>>20)}
	}
	if line, ok := binaryLine(b); !ok {
		return nil, &model.InputError{File: name, Line: line, Err: fmt.Errorf("binary content (NUL byte or invalid UTF-8), not a YAML or JSON manifest")}
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	if isJSON(name, b) {
		return parseJSON(name, b)
	}
	return parseYAMLStream(name, b, 1, true, shallow)
}

// rel makes p relative to root when it lies under root, so findings show project paths.
func rel(root, p string) string {
	if root == "" {
		return p
	}
	r, err := filepath.Rel(root, p)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return p
	}
	return filepath.ToSlash(r)
}

// unwrapPathError drops the *os.PathError's path (the caller names the file already).
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
