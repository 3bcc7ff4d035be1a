package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// kustomizeTimeout bounds one render: kustomize fetches remote resources (http, git) with no
// deadline of its own, so a server that accepts the connection and never answers would hang
// the stage forever.
const kustomizeTimeout = 2 * time.Minute

// originAnnotation is where kustomize records the file each rendered object came from when a
// kustomization asks for `buildMetadata: [originAnnotations]`.
const originAnnotation = "config.kubernetes.io/origin"

// loadKustomization renders a kustomization directory in process with kustomize's own library
// (what `kubectl kustomize` runs), with its default safety settings: no plugins, no Helm, files
// only from within the kustomization root. Each rendered object is mapped back to the file and
// line it came from (kustomize's origin annotations, asked for on the fly and removed again),
// so findings point at the real source, never at the directory.
func (l *Loader) loadKustomization(ctx context.Context, u unit) ([]Document, []Skip, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	kfile := kustomizationFileName(u)
	m, injected, err := runKustomize(ctx, u.abs, kustomizeTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("render kustomization %s: %w", u.name, ctx.Err())
		}
		var te *model.ToolError
		if errors.As(err, &te) {
			return nil, nil, err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, &model.ToolError{Tool: "kustomize", Err: fmt.Errorf("render kustomization %s: not done after %s (a remote resource that does not answer?): %w", u.name, kustomizeTimeout, err)}
		}
		if strings.Contains(err.Error(), "--enable-helm") {
			return nil, []Skip{{File: kfile, Line: lineOf(filepath.Join(u.abs, filepath.Base(kfile)), "helmCharts:"), Reason: "the kustomization inflates Helm charts (helmCharts), which needs their repositories: not rendered; name the chart directories in validate.paths instead"}}, nil
		}
		return nil, nil, &model.InputError{File: kfile, Line: 1, Err: fmt.Errorf("render kustomization: %w", err)}
	}
	origins := make([]*resource.Origin, 0, m.Size())
	for _, r := range m.Resources() {
		o, _ := r.GetOrigin()
		origins = append(origins, o)
		if injected {
			if err := r.SetOrigin(nil); err != nil {
				return nil, nil, &model.ToolError{Tool: "kustomize", Err: fmt.Errorf("render kustomization %s: %w", u.name, err)}
			}
		}
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, nil, &model.InputError{File: kfile, Line: 1, Err: fmt.Errorf("render kustomization: %w", err)}
	}
	docs, skips, err := parseYAMLStream(u.name, out, 1, false, l.Shallow)
	if err != nil {
		return nil, nil, relocate(err, kfile, "rendered by kustomize: ")
	}
	src := &sources{root: l.root}
	for i := range docs {
		docs[i].Unit = u.name
		docs[i].File, docs[i].Line = kfile, 1
		if len(docs) == len(origins) && origins[i] != nil {
			docs[i].File, docs[i].Line = src.locate(u, kfile, origins[i], docs[i])
		}
	}
	for i := range skips {
		skips[i].File, skips[i].Line = kfile, 1
	}
	return docs, skips, nil
}

// relocate points errors about rendered output (which has no file of its own) at the file that
// defines the render: the kustomization or Chart.yaml, line 1.
func relocate(err error, file, prefix string) error {
	fix := func(ie *model.InputError) *model.InputError {
		return &model.InputError{File: file, Line: 1, Err: fmt.Errorf("%s%w", prefix, ie.Err)}
	}
	var many Errors
	var ie *model.InputError
	switch {
	case errors.As(err, &many):
		out := make(Errors, len(many))
		for i, e := range many {
			out[i] = fix(e)
		}
		return out
	case errors.As(err, &ie) && !isToolError(err):
		return fix(ie)
	}
	return err
}

// runKustomize runs kustomize but returns when ctx ends or timeout passes: kustomize takes no
// ctx, so an abandoned render is left to finish in the background (its result is dropped).
// injected reports whether Tollgate asked for the origin annotations (the kustomization did not).
func runKustomize(ctx context.Context, dir string, timeout time.Duration) (m resmap.ResMap, injected bool, err error) {
	type result struct {
		m        resmap.ResMap
		injected bool
		err      error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: &model.ToolError{Tool: "kustomize", Err: fmt.Errorf("kustomize crashed: %v", p)}}
			}
		}()
		fs := &originFS{FileSystem: filesys.MakeFsOnDisk(), root: dir}
		k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
		m, err := k.Run(fs, dir)
		done <- result{m, fs.injected, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.m, r.injected, r.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	case <-t.C:
		return nil, false, context.DeadlineExceeded
	}
}

// originFS is the disk, except that the root kustomization file reads as if it asked for
// origin annotations (`buildMetadata: [originAnnotations]`), which kustomize then records on
// every object, through bases and components.
type originFS struct {
	filesys.FileSystem
	root     string
	injected bool
}

func (f *originFS) ReadFile(p string) ([]byte, error) {
	b, err := f.FileSystem.ReadFile(p)
	if err != nil || !isKustomizationFile(p) || !sameDir(filepath.Dir(p), f.root) {
		return b, err
	}
	nb, injected := withOriginAnnotations(b)
	f.injected = f.injected || injected
	return nb, nil
}

// sameDir compares directories, symbolic links resolved (kustomize resolves its root).
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// withOriginAnnotations adds originAnnotations to a kustomization's buildMetadata. It returns
// the input unchanged when it already asks for them or is not a mapping.
func withOriginAnnotations(b []byte) ([]byte, bool) {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return b, false
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "buildMetadata" {
			continue
		}
		v := m.Content[i+1]
		if v.Kind != yaml.SequenceNode {
			return b, false
		}
		for _, e := range v.Content {
			if e.Value == "originAnnotations" {
				return b, false
			}
		}
		v.Content = append(v.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "originAnnotations"})
		out, err := yaml.Marshal(&doc)
		if err != nil {
			return b, false
		}
		return out, true
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "buildMetadata"},
		&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: "originAnnotations"}}})
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return b, false
	}
	return out, true
}

// sources finds rendered objects in the files they came from, reading each file once.
type sources struct {
	root  string
	mu    sync.Mutex
	files map[string][]Document
}

// locate maps a rendered object to its source file and line: the resource file kustomize
// read it from (matched there by kind and name, which prefixes and suffixes may have changed),
// or the kustomization file whose generator made it. Anything else points at the
// kustomization file being rendered, line 1.
func (s *sources) locate(u unit, kfile string, o *resource.Origin, d Document) (string, int) {
	switch {
	case o.Repo != "":
		return kfile, max(1, lineOf(filepath.Join(u.abs, filepath.Base(kfile)), o.Repo))
	case o.Path != "" && o.ConfiguredIn == "":
		abs := filepath.Clean(filepath.Join(u.abs, o.Path))
		name := rel(s.root, abs)
		return name, s.docLine(abs, name, d)
	case o.ConfiguredIn != "":
		abs := filepath.Clean(filepath.Join(u.abs, o.ConfiguredIn))
		return rel(s.root, abs), generatorLine(abs, d.Name)
	}
	return kfile, 1
}

// docLine is the line of the document in the file that best matches d: same kind, and the
// name that d's rendered name was made from.
func (s *sources) docLine(abs, name string, d Document) int {
	s.mu.Lock()
	if s.files == nil {
		s.files = map[string][]Document{}
	}
	docs, ok := s.files[abs]
	if !ok {
		if b, err := os.ReadFile(abs); err == nil {
			docs, _, _ = parse(name, b, true)
		}
		s.files[abs] = docs
	}
	s.mu.Unlock()
	best, bestLen := 0, -1
	for _, c := range docs {
		if c.Kind != d.Kind {
			continue
		}
		score := 0
		switch {
		case c.Name == d.Name:
			score = 1 << 20
		case c.Name != "" && strings.Contains(d.Name, c.Name):
			score = len(c.Name)
		}
		if score > bestLen {
			best, bestLen = c.Line, score
		}
	}
	if best == 0 && len(docs) > 0 {
		best = docs[0].Line
	}
	return max(best, 1)
}

// generatorLine finds the `name:` line of the generator (configMapGenerator, secretGenerator)
// whose name the rendered name was made from (kustomize appends a hash and adds prefixes).
func generatorLine(abs, rendered string) int {
	b, err := os.ReadFile(abs)
	if err != nil {
		return 1
	}
	best, bestLen := 0, 0
	for i, line := range bytes.Split(b, []byte("\n")) {
		t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(line)), "- "))
		v, ok := strings.CutPrefix(t, "name:")
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		if ok && v != "" && strings.Contains(rendered, v) && len(v) > bestLen {
			best, bestLen = i+1, len(v)
		}
	}
	return max(best, 1)
}

// lineOf is the first line of the file holding s (1 when none does).
func lineOf(abs, s string) int {
	b, err := os.ReadFile(abs)
	if err != nil {
		return 1
	}
	if i := bytes.Index(b, []byte(s)); i >= 0 {
		return 1 + bytes.Count(b[:i], []byte("\n"))
	}
	return 1
}
