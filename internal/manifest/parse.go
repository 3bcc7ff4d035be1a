package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// chunk is the text of one YAML document between `---` separators.
type chunk struct {
	text  []byte
	line  int // 1-based line of the chunk's first line in the file
	start int // 1-based line of the first content line (not blank, comment or `---`)
	index int // document index within the file
	empty bool
}

// splitYAML cuts a YAML stream at document markers. It works on lines, like kubectl and
// kubeconform do, so each document keeps its own bytes and its line offset in the file.
func splitYAML(b []byte, firstLine int) []chunk {
	var chunks []chunk
	cur := chunk{line: firstLine, empty: true}
	curStart := 0
	explicitStart := false
	lineNo := firstLine
	flush := func(end int) {
		cur.text = b[curStart:end]
		// Text before the first `---` is a document only if it has content (YAML semantics).
		if !cur.empty || explicitStart {
			cur.index = len(chunks)
			chunks = append(chunks, cur)
		}
	}
	for off := 0; off < len(b); {
		nl := bytes.IndexByte(b[off:], '\n')
		end := len(b)
		if nl >= 0 {
			end = off + nl + 1
		}
		line := bytes.TrimRight(b[off:end], "\r\n")
		switch {
		case isDocStart(line):
			if off > curStart || explicitStart {
				flush(off)
			}
			explicitStart = true
			cur = chunk{line: lineNo, empty: true}
			curStart = off
			if rest := bytes.TrimSpace(line[3:]); len(rest) > 0 && rest[0] != '#' {
				cur.empty, cur.start = false, lineNo // `--- {kind: ...}`
			}
		case bytes.Equal(line, []byte("...")):
			// Document end marker: the text after it belongs to no document until the next `---`.
			flush(off)
			explicitStart = false
			cur = chunk{line: lineNo + 1, empty: true}
			curStart = end
		default:
			t := bytes.TrimSpace(line)
			if cur.empty && len(t) > 0 && t[0] != '#' && !bytes.HasPrefix(t, []byte("%")) {
				cur.empty, cur.start = false, lineNo
			}
		}
		off = end
		lineNo++
	}
	if len(b) > curStart || explicitStart {
		flush(len(b))
	}
	return chunks
}

func isDocStart(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '\t'
}

var (
	yamlLineRe = regexp.MustCompile(`line (\d+)`)
	// helmRe matches Go-template actions that only make sense in a Helm chart. Plain `{{ }}` is
	// legal text in some objects (Prometheus alert annotations), so it alone is not enough.
	helmRe = regexp.MustCompile(`\{\{-?\s*(\.Values|\.Release|\.Chart|\.Capabilities|\.Files|include\s|template\s|toYaml|tpl\s|define\s|if\s+\.Values|range\s+\.Values)`)
)

// chunkResult is what one YAML document of a file turned out to be: Kubernetes objects, a
// document that is no Kubernetes object (other), or bad input.
type chunkResult struct {
	docs  []Document
	other *Skip // not a Kubernetes object: why, and where
	known bool  // other is a known non-Kubernetes format (never an error, even beside objects)
	err   error
}

// parseYAMLStream decodes a YAML stream. lines=false marks rendered output with no useful line
// numbers; shallow scans ordinary documents instead of decoding them (see Scan).
func parseYAMLStream(name string, b []byte, firstLine int, lines, shallow bool) ([]Document, []Skip, error) {
	chunks := splitYAML(b, firstLine)
	results := make([]chunkResult, len(chunks))
	// Documents are independent: parse them on every core. Results are assembled in order, so
	// the output and the errors reported do not depend on scheduling.
	workers := min(runtime.GOMAXPROCS(0), 1+len(chunks)/16)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(chunks) {
					return
				}
				results[i] = parseChunk(name, chunks[i], lines, shallow)
			}
		}()
	}
	wg.Wait()
	return assemble(name, b, results)
}

// assemble decides, for a whole file, what its documents are. A file with no Kubernetes object
// at all (a compose file, CI config, Helm values, a YAML list, a file that is not even YAML and
// never mentions apiVersion or kind) is skipped with one note. In a file that holds objects,
// every other document is bad input, except known non-Kubernetes formats, each skipped with a
// note. Every bad document is reported, not only the first.
func assemble(name string, b []byte, results []chunkResult) ([]Document, []Skip, error) {
	var docs []Document
	var errs Errors
	objects := false
	for _, r := range results {
		if len(r.docs) > 0 {
			objects = true
		}
		docs = append(docs, r.docs...)
		var ie *model.InputError
		if errors.As(r.err, &ie) {
			errs = append(errs, ie)
		} else if r.err != nil {
			return nil, nil, r.err
		}
	}
	if len(errs) > 0 && !objects && !mentionsObject(b) {
		e := errs[0]
		return nil, []Skip{{File: name, Line: max(e.Line, 1), Reason: fmt.Sprintf(
			"not a Kubernetes manifest: not valid YAML or JSON (%v) and no apiVersion or kind", e.Err)}}, nil
	}
	var skips []Skip
	for _, r := range results {
		if r.other == nil {
			continue
		}
		if objects && !r.known {
			errs = append(errs, &model.InputError{File: name, Line: r.other.Line, Err: errors.New(r.other.Reason)})
			continue
		}
		skips = append(skips, *r.other)
	}
	if !objects && len(skips) > 1 {
		skips = skips[:1] // one note per file
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, nil, errs.err()
	}
	if !objects {
		docs = nil
	}
	return docs, skips, nil
}

// mentionsObject reports whether text has an apiVersion or kind key at the start of a line:
// then a file that does not parse is a broken manifest (exit 2), not some other format.
var mentionsRe = regexp.MustCompile(`(?m)^\s*(-\s+)?"?(apiVersion|kind)"?\s*:|"(apiVersion|kind)"\s*:`)

func mentionsObject(b []byte) bool { return mentionsRe.Match(b) }

// parseChunk decodes one YAML document; lines=false marks rendered output with no useful lines.
func parseChunk(name string, c chunk, lines, shallow bool) chunkResult {
	if c.empty {
		return chunkResult{}
	}
	lineOf := func(l int) int {
		if !lines {
			return 0
		}
		return l
	}
	// Merge keys are resolved here, so tools get the resolved object: no header scan.
	if shallow && helmRe.Find(c.text) == nil && !bytes.Contains(c.text, []byte("<<")) {
		if d, ok := scanHeader(name, c); ok {
			if why, known := configFormat(d.APIVersion, d.Kind); known {
				return chunkResult{other: &Skip{File: name, Line: max(lineOf(c.start), 1), Reason: why}, known: true}
			}
			d.Line = lineOf(c.start)
			if lines {
				d.RawLine = c.line
			}
			return chunkResult{docs: []Document{d}}
		}
	}
	v, root, merged, err := decodeYAML(c.text)
	if loc := helmRe.FindIndex(c.text); loc != nil && (err != nil || !holdsTemplates(v)) {
		l := c.line + bytes.Count(c.text[:loc[0]], []byte("\n"))
		return chunkResult{err: &model.InputError{File: name, Line: lineOf(l), Err: fmt.Errorf(
			"document %d is a Helm template (%q), not a manifest: render it with `helm template` and validate the output",
			c.index+1, snippet(c.text[loc[0]:]))}}
	}
	if err != nil {
		return chunkResult{err: yamlError(name, c, err, lines)}
	}
	r := documents(name, c.index, lineOf(c.start), v, c.text, root)
	if r.err != nil {
		return r
	}
	for i := range r.docs {
		r.docs[i].Normalized = merged
	}
	if lines && len(r.docs) > 0 && isListKind(v) {
		setItemLines(r.docs, c, root)
	} else if lines && len(r.docs) == 1 {
		r.docs[0].RawLine = c.line
	}
	return r
}

// holdsTemplates reports whether a parsed document is a kind whose data legitimately carries
// template text (a ConfigMap or Secret holding a chart, an alert template...).
func holdsTemplates(v any) bool {
	m, _ := v.(map[string]any)
	k, _ := m["kind"].(string)
	return k == "ConfigMap" || k == "Secret"
}

// yamlError rewrites yaml.v3's chunk-relative line numbers to file lines.
func yamlError(name string, c chunk, err error, lines bool) error {
	abs := func(l int) int {
		if !lines {
			return 0
		}
		return c.line + l - 1
	}
	var dk *dupKeyError
	if errors.As(err, &dk) {
		msg := fmt.Sprintf("key %q is defined twice in one mapping (first at line %d)", dk.key, abs(dk.first))
		if !lines {
			msg = fmt.Sprintf("key %q is defined twice in one mapping", dk.key)
		}
		return &model.InputError{File: name, Line: abs(dk.line), Err: fmt.Errorf("document %d: %s", c.index+1, msg)}
	}
	hint := ""
	if bytes.Contains(c.text, []byte("{{")) {
		hint = " (the document contains `{{`: a Helm template must be rendered with `helm template` first)"
	}
	var ne *nodeError
	if errors.As(err, &ne) {
		return &model.InputError{File: name, Line: abs(ne.line), Err: fmt.Errorf("document %d: invalid YAML: %s%s", c.index+1, ne.msg, hint)}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	line := c.start
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		line = c.line + n - 1
		msg = yamlLineRe.ReplaceAllStringFunc(msg, func(s string) string {
			k, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
			return fmt.Sprintf("line %d", c.line+k-1)
		})
		msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
	} else if i := bytes.Index(c.text, []byte("{{")); i >= 0 {
		line = c.line + bytes.Count(c.text[:i], []byte("\n"))
	}
	if !lines {
		line = 0
	}
	if strings.HasPrefix(msg, "invalid map key") {
		msg = "invalid map key (a mapping or `{{ }}` used as a key)"
	}
	return &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d: invalid YAML: %s%s", c.index+1, msg, hint)}
}

// setItemLines sets the line of each List item from the document's node tree.
func setItemLines(docs []Document, c chunk, root *yaml.Node) {
	if root == nil {
		return
	}
	m := deref(root)
	if m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "items" && deref(m.Content[i+1]).Kind == yaml.SequenceNode {
			for j, item := range deref(m.Content[i+1]).Content {
				if j < len(docs) {
					docs[j].Line = c.line + item.Line - 1
				}
			}
		}
	}
}

func isJSON(name string, b []byte) bool {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return true
	}
	return false
}

// parseJSON decodes one or more concatenated JSON values.
func parseJSON(name string, b []byte) ([]Document, []Skip, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var results []chunkResult
	for i := 0; ; i++ {
		// Skip whitespace to learn where this value starts.
		off := dec.InputOffset()
		for off < int64(len(b)) && strings.IndexByte(" \t\r\n", b[off]) >= 0 {
			off++
		}
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		line := 1 + bytes.Count(b[:off], []byte("\n"))
		if err != nil {
			errOff := off
			var se *json.SyntaxError
			if errors.As(err, &se) {
				errOff = se.Offset
			}
			if errOff > int64(len(b)) {
				errOff = int64(len(b))
			}
			results = append(results, chunkResult{err: &model.InputError{File: name, Line: 1 + bytes.Count(b[:errOff], []byte("\n")),
				Err: fmt.Errorf("document %d: invalid JSON: %v", i+1, err)}})
			break
		}
		end := dec.InputOffset()
		r := documents(name, i, line, v, b[off:end], nil)
		if len(r.docs) == 1 && !isListKind(v) {
			r.docs[0].RawLine = line
		}
		results = append(results, r)
	}
	return assemble(name, b, results)
}

// documents checks one decoded document and unwraps a List into its items. root is the
// document's YAML node (nil for JSON), to name objects whose name is not a string as written.
func documents(name string, index, line int, v any, raw []byte, root *yaml.Node) chunkResult {
	obj, ok := v.(map[string]any)
	if !ok {
		return chunkResult{other: &Skip{File: name, Line: max(line, 1), Reason: fmt.Sprintf(
			"document %d is a %s, not a Kubernetes object (a mapping with apiVersion and kind)", index+1, describe(v))}}
	}
	_, hasKind := obj["kind"]
	if !hasKind && !looksLikeAPIVersion(obj["apiVersion"]) {
		// No kind, and no apiVersion a Kubernetes object could have (Grafana's provisioning
		// files say `apiVersion: 1`): some other format.
		return chunkResult{other: &Skip{File: name, Line: max(line, 1), Reason: fmt.Sprintf(
			"document %d has no apiVersion and kind: not a Kubernetes object", index+1)}}
	}
	normalize(obj)
	d, err := newDocument(name, index, line, obj, raw, root)
	if err != nil {
		return chunkResult{err: err}
	}
	if why, known := configFormat(d.APIVersion, d.Kind); known {
		return chunkResult{other: &Skip{File: name, Line: max(line, 1), Reason: why}, known: true}
	}
	if !isListKind(obj) {
		return chunkResult{docs: []Document{d}}
	}
	if _, ok := obj["items"]; ok && !isItems(obj["items"]) {
		return chunkResult{err: &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d (%s): items must be a sequence, got a %s", index+1, d.Kind, describe(obj["items"]))}}
	}
	items, _ := obj["items"].([]any)
	out := make([]Document, 0, len(items))
	for j, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return chunkResult{err: &model.InputError{File: name, Line: line, Err: fmt.Errorf(
				"document %d (%s): item %d is a %s, not a Kubernetes object", index+1, d.Kind, j+1, describe(it))}}
		}
		b, err := json.Marshal(m)
		if err != nil {
			return chunkResult{err: &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d (%s): item %d: %w", index+1, d.Kind, j+1, err)}}
		}
		item, err := newDocument(name, index, line, m, b, nil)
		if err != nil {
			var ie *model.InputError
			if errors.As(err, &ie) {
				ie.Err = fmt.Errorf("%s item %d: %w", d.Kind, j+1, ie.Err)
			}
			return chunkResult{err: err}
		}
		out = append(out, item)
	}
	return chunkResult{docs: out}
}

// apiVersionRe matches Kubernetes API versions: v1, apps/v1, example.com/v1beta2.
var apiVersionRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9.-]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]*)?$`)

func looksLikeAPIVersion(v any) bool {
	s, ok := v.(string)
	return ok && apiVersionRe.MatchString(s)
}

func isItems(v any) bool { _, ok := v.([]any); return ok || v == nil }

// isListKind reports whether a decoded document is a List (kind: List, or a typed *List with items).
func isListKind(v any) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	kind, _ := obj["kind"].(string)
	_, hasItems := obj["items"].([]any)
	// kubeconform unwraps any kind spelled "list" in any case; so do we, to agree on documents.
	return strings.EqualFold(kind, "List") || (strings.HasSuffix(kind, "List") && hasItems)
}

func newDocument(name string, index, line int, obj map[string]any, raw []byte, root *yaml.Node) (Document, error) {
	d := Document{File: name, Index: index, Line: line, Object: obj, Raw: raw}
	var missing []string
	var err error
	if d.APIVersion, err = stringField(obj, "apiVersion"); err != nil {
		return d, &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d: %w", index+1, err)}
	}
	if d.Kind, err = stringField(obj, "kind"); err != nil {
		return d, &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d: %w", index+1, err)}
	}
	if d.APIVersion == "" {
		missing = append(missing, "apiVersion")
	}
	if d.Kind == "" {
		missing = append(missing, "kind")
	}
	if len(missing) > 0 {
		return d, &model.InputError{File: name, Line: line, Err: fmt.Errorf(
			"document %d has no %s: not a Kubernetes object", index+1, strings.Join(missing, " and "))}
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		d.Name = displayName(md, "name", root)
		d.Namespace = displayName(md, "namespace", root)
		if d.Name == "" {
			d.Name, _ = md["generateName"].(string)
		}
	}
	return d, nil
}

// displayName is metadata[key] for messages: the string, or, when YAML made it something else
// (`name: yes` is a boolean to Kubernetes), the text as written.
func displayName(md map[string]any, key string, root *yaml.Node) string {
	switch v := md[key].(type) {
	case string:
		return v
	case nil:
		return ""
	case bool, int, int64, uint64, float64:
		if n := lookup(root, "metadata", key); n != nil && n.Kind == yaml.ScalarNode {
			return n.Value
		}
		return fmt.Sprint(v)
	}
	return ""
}

// lookup follows mapping keys from a node.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil {
			return nil
		}
		n = deref(n)
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	if n == nil {
		return nil
	}
	return deref(n)
}

func stringField(obj map[string]any, key string) (string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, got %s", key, describe(v))
	}
	return s, nil
}

// normalize turns maps with non-string keys (YAML allows `1: x`) into string-keyed maps, so
// every Object can be encoded as JSON the way the API server and kubeconform see it.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	default:
		return v
	}
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "sequence"
	case map[string]any, map[any]any:
		return "mapping"
	case string:
		return "scalar (string)"
	default:
		return fmt.Sprintf("scalar (%T)", v)
	}
}

func snippet(b []byte) string {
	s := string(b)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// binaryLine reports whether b looks like text; when not, it returns the line of the first
// offending byte.
func binaryLine(b []byte) (int, bool) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return 1 + bytes.Count(b[:i], []byte("\n")), false
	}
	if !utf8.Valid(b) {
		for off := 0; off < len(b); {
			r, size := utf8.DecodeRune(b[off:])
			if r == utf8.RuneError && size <= 1 {
				return 1 + bytes.Count(b[:off], []byte("\n")), false
			}
			off += size
		}
	}
	return 0, true
}
