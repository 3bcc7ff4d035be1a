package score

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tollgate-dev/tollgate/internal/manifest"
)

// Input is one file kube-score reads: a project file handed over as it is, or a file Tollgate
// writes holding documents that cannot be (rendered, merged, or sharing their file with
// documents kube-score must not see). kube-score reports every object with its file name and
// the line of its document, which map it back to the document.
type Input struct {
	Name    string // file name, unique in the batch (input-0001.yaml)
	Content []byte
	// Path, when set, is the project file this input is: a runner that can read it there
	// passes Path to kube-score instead of writing Content to a file of its own.
	Path string
}

// source is where a document came from, for the findings about it.
type source struct {
	File     string
	Line     int
	Resource string
}

// Batch is a set of documents prepared for one kube-score run, with the way back from
// kube-score's file names, lines and object keys to the user's files.
type Batch struct {
	Inputs []Input
	// rows maps an input (by Path, and by Name) and the line kube-score reports for an object
	// (the first line of its document) to the document.
	rows  map[string]map[int]source
	byKey map[string][]source // kube-score object key Kind/apiVersion/namespace/name -> sources
	// scored are the keys of inputs kube-score must report on: the kinds it decodes.
	scored map[string]string // key -> resource
}

// scoredKinds are the apiVersion/kind pairs kube-score v1.20.0 decodes and scores (parser.decodeItem);
// it passes over other kinds silently.
var scoredKinds = map[string]bool{
	"v1/Pod": true, "v1/Service": true,
	"batch/v1/Job": true, "batch/v1/CronJob": true, "batch/v1beta1/CronJob": true,
	"apps/v1/Deployment": true, "apps/v1beta1/Deployment": true, "apps/v1beta2/Deployment": true, "extensions/v1beta1/Deployment": true,
	"apps/v1/StatefulSet": true, "apps/v1beta1/StatefulSet": true, "apps/v1beta2/StatefulSet": true,
	"apps/v1/DaemonSet": true, "apps/v1beta2/DaemonSet": true, "extensions/v1beta1/DaemonSet": true,
	"networking.k8s.io/v1/NetworkPolicy": true,
	"policy/v1/PodDisruptionBudget":      true, "policy/v1beta1/PodDisruptionBudget": true,
	"extensions/v1beta1/Ingress": true, "networking.k8s.io/v1beta1/Ingress": true, "networking.k8s.io/v1/Ingress": true,
	"autoscaling/v1/HorizontalPodAutoscaler": true, "autoscaling/v2/HorizontalPodAutoscaler": true,
	"autoscaling/v2beta1/HorizontalPodAutoscaler": true, "autoscaling/v2beta2/HorizontalPodAutoscaler": true,
}

// NewBatch turns loaded documents into kube-score inputs, all written by Tollgate.
func NewBatch(docs []manifest.Document) (*Batch, error) { return (&batcher{}).batch(docs) }

// batcher prepares batches that hand project files to kube-score as they are when it can: a file
// whose documents are all in the batch, all of kinds kube-score scores, read from the file
// itself (not rendered, no merge keys resolved) and split into documents the way kube-score
// splits them. Writing one file per document cost more than kube-score's own work on a tree of
// small manifests; passing the user's files costs nothing.
type batcher struct {
	root string // project root for relative Document.File; "" writes every input
	// perFile counts the loaded documents of each source file: a file can be passed only when
	// all of them are in the batch.
	perFile map[string]int
}

func newBatcher(root string, all []manifest.Document) *batcher {
	bt := &batcher{root: root, perFile: map[string]int{}}
	for _, d := range all {
		bt.perFile[d.File]++
	}
	return bt
}

func (bt *batcher) batch(docs []manifest.Document) (*Batch, error) {
	b := &Batch{rows: map[string]map[int]source{}, byKey: map[string][]source{}, scored: map[string]string{}}
	byFile := map[string][]int{}
	var order []string
	for i, d := range docs {
		if _, ok := byFile[d.File]; !ok {
			order = append(order, d.File)
		}
		byFile[d.File] = append(byFile[d.File], i)
		src := source{File: d.File, Line: d.Line, Resource: d.Resource()}
		key := objectKey(d)
		b.byKey[key] = append(b.byKey[key], src)
		if scoredKinds[d.APIVersion+"/"+d.Kind] {
			b.scored[key] = src.Resource
		}
	}
	// Reading and splitting the project's files is most of the preparation: spread it over the
	// cores (kube-score waits for it), then add the inputs in order.
	type asIsFile struct {
		in   Input
		rows map[int]source
		ok   bool
	}
	files := make([]asIsFile, len(order))
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range min(runtime.NumCPU(), len(order)) {
		wg.Go(func() {
			for j := int(next.Add(1)) - 1; j < len(order); j = int(next.Add(1)) - 1 {
				f := &files[j]
				f.in, f.rows, f.ok = bt.asIs(order[j], docs, byFile[order[j]])
			}
		})
	}
	wg.Wait()
	var written []int // documents that go into a file Tollgate writes
	for j, f := range order {
		if a := files[j]; a.ok {
			a.in.Name = fmt.Sprintf("input-%04d-%s", len(b.Inputs)+1, path.Base(filepathToSlash(f)))
			b.add(a.in, a.rows)
			continue
		}
		written = append(written, byFile[f]...)
	}
	if len(written) > 0 {
		var buf bytes.Buffer
		for n, i := range written {
			content, err := inputContent(docs[i])
			if err != nil {
				return nil, fmt.Errorf("prepare %s (document %d) for kube-score: %w", docs[i].File, docs[i].Index+1, err)
			}
			if n > 0 {
				buf.WriteString("---\n")
			}
			buf.Write(content)
			if !bytes.HasSuffix(content, []byte("\n")) {
				buf.WriteByte('\n')
			}
		}
		chunks := kubeScoreChunks(buf.Bytes())
		if len(chunks) != len(written) {
			return nil, fmt.Errorf("prepare kube-score input: %d documents made %d", len(written), len(chunks))
		}
		rows := map[int]source{}
		for n, i := range written {
			d := docs[i]
			rows[chunks[n].line] = source{File: d.File, Line: d.Line, Resource: d.Resource()}
		}
		b.add(Input{Name: fmt.Sprintf("input-%04d.yaml", len(b.Inputs)+1), Content: buf.Bytes()}, rows)
	}
	return b, nil
}

func (b *Batch) add(in Input, rows map[int]source) {
	b.Inputs = append(b.Inputs, in)
	b.rows[in.Name] = rows
	if in.Path != "" {
		b.rows[in.Path] = rows
	}
}

func filepathToSlash(p string) string { return strings.ReplaceAll(p, "\\", "/") }

// asIs returns file as an input kube-score can read as it is, with the line of each document,
// when every condition holds (see batcher); ok is false otherwise.
func (bt *batcher) asIs(file string, docs []manifest.Document, idx []int) (Input, map[int]source, bool) {
	if bt.root == "" || bt.perFile[file] != len(idx) {
		return Input{}, nil, false
	}
	for _, i := range idx {
		d := docs[i]
		if d.RawLine == 0 || d.Normalized || d.IsSecret() || (d.Unit != "" && d.Unit != d.File) || !scoredKinds[d.APIVersion+"/"+d.Kind] {
			return Input{}, nil, false
		}
	}
	abs := file
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(bt.root, file)
	}
	abs, err := filepath.Abs(abs) // kube-score runs in a directory of its own
	if err != nil {
		return Input{}, nil, false
	}
	fi, err := os.Stat(abs)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > manifest.MaxFileSize {
		return Input{}, nil, false
	}
	content, err := os.ReadFile(abs)
	if err != nil {
		return Input{}, nil, false
	}
	// Every document must start in a chunk of its own, every chunk with content must hold one,
	// and no chunk may start with a Helm "# Source:" comment (kube-score would report that name).
	rows := map[int]source{}
	chunks := kubeScoreChunks(content)
	used := map[int]bool{}
	for _, i := range idx {
		d := docs[i]
		c := -1
		for j, ch := range chunks {
			if d.Line >= ch.line && d.Line < ch.line+ch.lines {
				c = j
				break
			}
		}
		if c < 0 || used[c] || bytes.HasPrefix(chunks[c].text, []byte("# Source: ")) {
			return Input{}, nil, false
		}
		used[c] = true
		rows[chunks[c].line] = source{File: d.File, Line: d.Line, Resource: d.Resource()}
	}
	for j, ch := range chunks {
		if !used[j] && hasContent(ch.text) {
			return Input{}, nil, false
		}
	}
	return Input{Content: content, Path: abs}, rows, true
}

// chunk is one document as kube-score v1.20.0 splits a file (parser.ParseFiles): CRLF made LF,
// a leading "---\n" dropped, then split at "\n---\n"; line is the 1-based line kube-score
// reports for the objects in it, lines the number of lines it spans.
type chunk struct {
	text        []byte
	line, lines int
}

func kubeScoreChunks(content []byte) []chunk {
	content = bytes.ReplaceAll(content, []byte("\r\n"), []byte("\n"))
	offset := 1
	if bytes.HasPrefix(content, []byte("---\n")) {
		content, offset = content[4:], 2
	}
	var out []chunk
	for _, t := range bytes.Split(content, []byte("\n---\n")) {
		n := bytes.Count(t, []byte("\n"))
		if len(bytes.TrimSpace(t)) > 0 {
			out = append(out, chunk{text: t, line: offset, lines: n + 1})
		}
		offset += 2 + n
	}
	return out
}

// hasContent reports whether a chunk holds more than comments and blank lines.
func hasContent(t []byte) bool {
	for _, l := range bytes.Split(t, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 && l[0] != '#' {
			return true
		}
	}
	return false
}

// lookup finds the document kube-score reported on: by its input and line, and by its object
// key when kube-score replaced the file name (it honours Helm "# Source:" comments).
func (b *Batch) lookup(fileName string, row int, objectName string) (source, bool) {
	for _, k := range []string{fileName, path.Base(filepathToSlash(fileName))} {
		if rows, ok := b.rows[k]; ok {
			if s, ok := rows[row]; ok {
				return s, true
			}
		}
	}
	if ss := b.byKey[objectName]; len(ss) > 0 {
		return ss[0], true
	}
	return source{}, false
}

// objectKey is kube-score's scorecard key for an object: Kind/apiVersion/namespace/name, with the
// namespace as written (empty when the manifest has none) and metadata.name only: an object
// with just a generateName has an empty name there.
func objectKey(d manifest.Document) string {
	ns, name := "", ""
	if md, ok := d.Object["metadata"].(map[string]any); ok {
		ns, _ = md["namespace"].(string)
		name, _ = md["name"].(string)
	}
	return d.Kind + "/" + d.APIVersion + "/" + ns + "/" + name
}

// inputHeader starts every input so the document's first line is never a Helm "# Source:" comment,
// which would make kube-score report a file name we cannot map back.
const inputHeader = "# tollgate score input\n"

// inputContent is the document as kube-score should read it: the original YAML when it is one
// self-contained document, else the decoded object as JSON (which is YAML too). kube-score splits
// files on "\n---\n", so a raw text holding a separator must not be passed through.
func inputContent(d manifest.Document) ([]byte, error) {
	raw := bytes.ReplaceAll(d.Raw, []byte("\r\n"), []byte("\n"))
	if first, rest, ok := bytes.Cut(raw, []byte("\n")); ok && isSeparatorLine(first) {
		raw = rest // a leading `---` (or `--- # comment`) line: kube-score needs none
	}
	if len(bytes.TrimSpace(raw)) > 0 && !bytes.Contains(raw, []byte("\n---")) && !bytes.HasPrefix(raw, []byte("---")) {
		return append([]byte(inputHeader), raw...), nil
	}
	obj := d.Object
	if len(d.Raw) > 0 {
		// The loader may have read only the header of this document (Loader.Shallow): decode
		// its text in full before encoding it.
		full, err := manifest.Parse(d.File, d.Raw)
		if err != nil {
			return nil, err
		}
		if len(full) != 1 {
			return nil, fmt.Errorf("document text holds %d documents", len(full))
		}
		obj = full[0].Object
	}
	if obj == nil {
		return nil, fmt.Errorf("document has no content")
	}
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode document: %w", err)
	}
	return append(append([]byte(inputHeader), j...), '\n'), nil
}

// isSeparatorLine reports whether a line is a YAML document start with nothing but a comment
// after it.
func isSeparatorLine(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) || (len(line) > 3 && line[3] != ' ' && line[3] != '\t') {
		return false
	}
	rest := bytes.TrimSpace(line[3:])
	return len(rest) == 0 || rest[0] == '#'
}
