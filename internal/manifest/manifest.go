// Package manifest reads Kubernetes manifests the way a user writes them — files, directories,
// multi-document YAML, JSON, `List` kinds, kustomization directories — into one flat list of
// documents that remember where they came from. Bad input is a *model.InputError naming the
// file and line, caught here before any tool sees it.
package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	// Unit is the input that produced the document: its file, or the kustomization or Helm
	// chart directory that rendered it (File then names the source file of the object).
	Unit string
	// Normalized means Raw is not what a tool should parse: the loader resolved YAML merge keys
	// in Object, and tools get Object encoded as JSON so every stage decides alike.
	Normalized bool
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
// Empty documents, and files that are not Kubernetes manifests, are skipped (a Loader reports
// them). Bad input returns *model.InputError with File and Line, or Errors when there are several.
func Load(ctx context.Context, paths []string, root string) ([]Document, error) {
	l := &Loader{Root: root}
	return l.Load(ctx, paths)
}

// Walk is Load delivering the documents one file (or kustomization) at a time, in Load's order,
// so a consumer can start work before the last file is read. An error from fn stops the walk.
func Walk(ctx context.Context, paths []string, root string, fn func([]Document) error) error {
	l := &Loader{Root: root}
	return l.Walk(ctx, paths, fn)
}

// Scan is Walk for a consumer that hands the documents' text to a tool that parses them anyway
// (kubeconform): it reads apiVersion, kind and metadata.name/namespace/generateName from the
// text of each block-style YAML document without decoding the rest, so Object holds only those
// fields and a syntax error in the rest of such a document is left to the consumer. Documents
// the scan cannot read with certainty (flow style, anchors, merge keys, non-string names...),
// JSON, Lists, Secrets and CustomResourceDefinitions are decoded in full, as Walk does.
func Scan(ctx context.Context, paths []string, root string, fn func([]Document) error) error {
	l := &Loader{Root: root, Shallow: true}
	return l.Walk(ctx, paths, fn)
}

// Load is Walk collecting every document.
func (l *Loader) Load(ctx context.Context, paths []string) ([]Document, error) {
	var docs []Document
	err := l.Walk(ctx, paths, func(d []Document) error {
		docs = append(docs, d...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
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

func loadFile(abs, name string, shallow bool) ([]Document, []Skip, error) {
	if why, ok := knownFile(name); ok {
		return nil, []Skip{{File: name, Line: 1, Reason: why}}, nil
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, nil, &model.InputError{File: name, Err: unwrapPathError(err)}
	}
	if fi.Size() > MaxFileSize {
		return nil, nil, &model.InputError{File: name, Err: fmt.Errorf("file is %d MB, over the %d MB limit for a manifest file; split it or check it is really a manifest",
			fi.Size()>>20, MaxFileSize>>20)}
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return nil, nil, &model.InputError{File: name, Err: unwrapPathError(err)}
	}
	return parse(name, b, shallow)
}

// Parse decodes the bytes of one manifest file (YAML, multi-document YAML or JSON) named name.
// Unlike a walk, it treats a file without Kubernetes objects as bad input.
func Parse(name string, b []byte) ([]Document, error) {
	docs, skips, err := parse(name, b, false)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 && len(skips) > 0 {
		return nil, &model.InputError{File: name, Line: skips[0].Line, Err: errors.New(skips[0].Reason)}
	}
	return docs, nil
}

// Classify reads one file the way a walk does (shallow): its Kubernetes objects, or why it
// is skipped.
func Classify(name string, b []byte) ([]Document, []Skip, error) {
	if why, ok := knownFile(name); ok {
		return nil, []Skip{{File: name, Line: 1, Reason: why}}, nil
	}
	return parse(name, b, true)
}

func parse(name string, b []byte, shallow bool) ([]Document, []Skip, error) {
	if len(b) > MaxFileSize {
		return nil, nil, &model.InputError{File: name, Err: fmt.Errorf("file is %d MB, over the %d MB limit for a manifest file", len(b)>>20, MaxFileSize>>20)}
	}
	if line, ok := binaryLine(b); !ok {
		return nil, nil, &model.InputError{File: name, Line: line, Err: fmt.Errorf("binary content (NUL byte or invalid UTF-8), not a YAML or JSON manifest")}
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
