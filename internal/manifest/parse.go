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

// parseYAMLStream decodes a YAML stream. lines=false marks rendered output with no useful line
// numbers; shallow scans ordinary documents instead of decoding them (see Scan).
func parseYAMLStream(name string, b []byte, firstLine int, lines, shallow bool) ([]Document, error) {
	chunks := splitYAML(b, firstLine)
	results := make([]chunkResult, len(chunks))
	// Documents are independent: parse them on every core. Results are assembled in order, so
	// the output and the first error reported do not depend on scheduling.
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
				results[i].docs, results[i].err = parseChunk(name, chunks[i], lines, shallow)
			}
		}()
	}
	wg.Wait()
	var docs []Document
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		docs = append(docs, r.docs...)
	}
	return docs, nil
}

type chunkResult struct {
	docs []Document
	err  error
}

// parseChunk decodes one YAML document; lines=false marks rendered output with no useful lines.
func parseChunk(name string, c chunk, lines, shallow bool) ([]Document, error) {
	if c.empty {
		return nil, nil
	}
	lineOf := func(l int) int {
		if !lines {
			return 0
		}
		return l
	}
	if shallow && helmRe.Find(c.text) == nil {
		if d, ok := scanHeader(name, c); ok {
			d.Line = lineOf(c.start)
			if lines {
				d.RawLine = c.line
			}
			return []Document{d}, nil
		}
	}
	var v any
	err := yaml.Unmarshal(c.text, &v)
	if loc := helmRe.FindIndex(c.text); loc != nil && (err != nil || !holdsTemplates(v)) {
		l := c.line + bytes.Count(c.text[:loc[0]], []byte("\n"))
		return nil, &model.InputError{File: name, Line: lineOf(l), Err: fmt.Errorf(
			"document %d is a Helm template (%q), not a manifest: render it with `helm template` and validate the output",
			c.index, snippet(c.text[loc[0]:]))}
	}
	if err != nil {
		return nil, yamlError(name, c, err, lines)
	}
	d, err := documents(name, c.index, lineOf(c.start), v, c.text)
	if err != nil {
		return nil, err
	}
	if lines && len(d) > 0 && isListKind(v) {
		setItemLines(d, c)
	} else if lines && len(d) == 1 {
		d[0].RawLine = c.line
	}
	return d, nil
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
	hint := ""
	if bytes.Contains(c.text, []byte("{{")) {
		hint = " (the document contains `{{`: a Helm template must be rendered with `helm template` first)"
	}
	return &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d: invalid YAML: %s%s", c.index, msg, hint)}
}

// setItemLines finds the line of each List item, parsing the chunk again as a node tree; only
// Lists pay for this second pass.
func setItemLines(docs []Document, c chunk) {
	var n yaml.Node
	if yaml.Unmarshal(c.text, &n) != nil || len(n.Content) == 0 {
		return
	}
	m := n.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "items" && m.Content[i+1].Kind == yaml.SequenceNode {
			for j, item := range m.Content[i+1].Content {
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
func parseJSON(name string, b []byte) ([]Document, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var docs []Document
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
			return nil, &model.InputError{File: name, Line: 1 + bytes.Count(b[:errOff], []byte("\n")),
				Err: fmt.Errorf("document %d: invalid JSON: %v", i, err)}
		}
		end := dec.InputOffset()
		d, err := documents(name, i, line, v, b[off:end])
		if err != nil {
			return nil, err
		}
		if len(d) == 1 && !isListKind(v) {
			d[0].RawLine = line
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// documents checks one decoded document and unwraps a List into its items.
func documents(name string, index, line int, v any, raw []byte) ([]Document, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &model.InputError{File: name, Line: line, Err: fmt.Errorf(
			"document %d is a %s, not a Kubernetes object (a mapping with apiVersion and kind)", index, describe(v))}
	}
	normalize(obj)
	d, err := newDocument(name, index, line, obj, raw)
	if err != nil {
		return nil, err
	}
	if !isListKind(obj) {
		return []Document{d}, nil
	}
	if _, ok := obj["items"]; ok && !isItems(obj["items"]) {
		return nil, &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d (%s): items must be a sequence, got a %s", index, d.Kind, describe(obj["items"]))}
	}
	items, _ := obj["items"].([]any)
	out := make([]Document, 0, len(items))
	for j, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, &model.InputError{File: name, Line: line, Err: fmt.Errorf(
				"document %d (%s): item %d is a %s, not a Kubernetes object", index, d.Kind, j, describe(it))}
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d (%s): item %d: %w", index, d.Kind, j, err)}
		}
		item, err := newDocument(name, index, line, m, b)
		if err != nil {
			var ie *model.InputError
			if errors.As(err, &ie) {
				ie.Err = fmt.Errorf("%s item %d: %w", d.Kind, j, ie.Err)
			}
			return nil, err
		}
		out = append(out, item)
	}
	return out, nil
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

func newDocument(name string, index, line int, obj map[string]any, raw []byte) (Document, error) {
	d := Document{File: name, Index: index, Line: line, Object: obj, Raw: raw}
	var missing []string
	var err error
	if d.APIVersion, err = stringField(obj, "apiVersion"); err != nil {
		return d, &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d: %w", index, err)}
	}
	if d.Kind, err = stringField(obj, "kind"); err != nil {
		return d, &model.InputError{File: name, Line: line, Err: fmt.Errorf("document %d: %w", index, err)}
	}
	if d.APIVersion == "" {
		missing = append(missing, "apiVersion")
	}
	if d.Kind == "" {
		missing = append(missing, "kind")
	}
	if len(missing) > 0 {
		return d, &model.InputError{File: name, Line: line, Err: fmt.Errorf(
			"document %d has no %s: not a Kubernetes object", index, strings.Join(missing, " and "))}
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		d.Name, _ = md["name"].(string)
		d.Namespace, _ = md["namespace"].(string)
		if d.Name == "" {
			d.Name, _ = md["generateName"].(string)
		}
	}
	return d, nil
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
