package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/schemas"
)

// Options configure a validation run.
type Options struct {
	KubernetesVersion     string         // e.g. 1.36.0
	Strict                bool           // reject unknown fields
	MissingSchemaSeverity model.Severity // severity of K8S-NO-SCHEMA
	SchemaLocations       []string       // user schema locations (dir or URL template), tried last
	// Workers is kubeconform's -n (0: its default).
	Workers int
}

// OptionsFrom reads the validate section of the config.
func OptionsFrom(c *config.Config) Options {
	v := c.Validate
	o := Options{
		KubernetesVersion:     schemas.NormalizeVersion(v.KubernetesVersion),
		Strict:                v.Strict == nil || *v.Strict,
		MissingSchemaSeverity: v.MissingSchemaSeverity,
		SchemaLocations:       v.SchemaLocations,
	}
	if o.KubernetesVersion == "" {
		o.KubernetesVersion = "1.36.0"
	}
	if o.MissingSchemaSeverity == model.SeverityUnknown {
		o.MissingSchemaSeverity = model.SeverityHigh
	}
	return o
}

// Check rejects options no run can use, as bad input naming the config file.
func (o Options) Check(configFile string) error {
	if !schemas.ValidVersion(o.KubernetesVersion) {
		return &model.InputError{File: configFile, Err: fmt.Errorf("validate.kubernetes-version %q: want MAJOR.MINOR.PATCH, e.g. 1.36.0", o.KubernetesVersion)}
	}
	return nil
}

// Sub-directories of a run's work dir.
const (
	DocsDir = "docs" // the documents handed to kubeconform
	CRDDir  = "crds" // schemas generated from CustomResourceDefinitions
)

// batchSize bounds the documents per file handed to kubeconform: enough files for its parallel
// readers, few enough that writing them costs nothing next to validating them.
const batchSize = 100

// Plan is one kubeconform run over loaded documents: which file and name each result maps back
// to, and the findings made without kubeconform (CRDs that do not convert, schema name
// collisions).
type Plan struct {
	Docs     []manifest.Document
	Findings []model.Finding
	// CRDKinds are the kinds validated with schemas generated from CRDs.
	CRDKinds map[schemas.GVK]bool
	// Count is the number of documents handed to kubeconform.
	Count int

	opts Options
	// results maps "file\x00kind\x00apiVersion\x00name" (what kubeconform reports) to an index
	// in Docs; a "solo" file holding one document maps by file name alone.
	results map[string]int
	// lineBase is, per document, the file line of the first line kubeconform sees of it (0 when
	// kubeconform sees re-encoded JSON), to place the parse errors it reports.
	lineBase map[int]int
	// batches lists, per file in DocsDir, the indexes of the documents it holds.
	batches map[string][]int
	// texts is, per document handed over, the text kubeconform is given (see docText).
	texts map[int][]byte
	// files are the batch files' contents, written under DocsDir by Prepare.
	files []*batch
}

// newPlan maps documents to what kubeconform is given (batch files for the binary, one text per
// document in process) and writes the schemas of the CustomResourceDefinitions under
// workDir's CRDDir.
func newPlan(docs, crds []manifest.Document, builtinDir string, opts Options, workDir string) (*Plan, error) {
	p := &Plan{Docs: docs, CRDKinds: map[schemas.GVK]bool{}, opts: opts, results: map[string]int{}, lineBase: map[int]int{}, batches: map[string][]int{}, texts: map[int][]byte{}}
	for _, d := range []string{DocsDir, CRDDir} {
		if err := os.MkdirAll(filepath.Join(workDir, d), 0o755); err != nil {
			return nil, &model.ToolError{Tool: toolName, Err: err}
		}
	}
	var index *schemas.Index
	var objectMeta map[string]any
	if builtinDir != "" {
		var err error
		if index, err = schemas.LoadIndex(builtinDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, &model.ToolError{Tool: toolName, Err: err}
		}
		if objectMeta, err = schemas.LoadObjectMeta(builtinDir, opts.Strict); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, &model.ToolError{Tool: toolName, Err: err}
		}
	}
	for _, d := range append(append([]manifest.Document{}, crds...), docs...) {
		if !schemas.IsCRD(d.APIVersion, d.Kind) {
			continue
		}
		list, err := schemas.FromCRD(d.Object, objectMeta, opts.Strict)
		if err == nil {
			err = schemas.WriteCRDSchemas(filepath.Join(workDir, CRDDir), list)
		}
		if err != nil {
			p.Findings = append(p.Findings, p.finding(RuleCRDSchema, d, d.Line, "", err.Error()))
			continue
		}
		for _, s := range list {
			p.CRDKinds[s.GVK] = true
		}
	}

	var batches []*batch
	for i, d := range docs {
		g := schemas.ParseAPIVersion(d.APIVersion, d.Kind)
		if !p.CRDKinds[g] {
			if owner, ok := index.Collision(g); ok {
				p.Findings = append(p.Findings, p.finding(RuleCollision, d, d.Line, "", fmt.Sprintf(
					"%s has no schema of its own, and kubeconform's file name for it (%s) is the schema of %s: it was not validated",
					g, schemas.KubeconformFile(g), owner)))
				continue
			}
		}
		name, named := resultName(d)
		k := resultKey{d.Kind, d.APIVersion, name}
		var b *batch
		for j := len(batches) - 1; j >= 0 && named; j-- { // the open batch is almost always the last
			if c := batches[j]; !c.solo && c.n < batchSize && !c.names[k] {
				b = c
				break
			}
		}
		if b == nil {
			b = &batch{file: strconv.Itoa(len(batches)) + ".yaml", names: map[resultKey]bool{}, solo: !named}
			batches = append(batches, b)
		}
		raw, base := docText(d)
		if base > 0 {
			p.lineBase[i] = base
		}
		p.texts[i] = raw
		b.add(raw)
		b.names[k] = true
		p.batches[b.file] = append(p.batches[b.file], i)
		p.results[b.file+"\x00"+k.String()] = i
		if b.solo {
			p.results[b.file] = i
		}
		p.Count++
	}
	p.files = batches
	return p, nil
}

// Prepare writes what the kubeconform binary needs into workDir: the documents to validate
// under DocsDir (List items and rendered kustomize output included), and the schemas of the
// CustomResourceDefinitions found among docs or in crds (validate.crds, whose documents are not
// validated themselves) under CRDDir. builtinDir is a dir made by schemas.Build ("" when the
// user's schema locations stand in for it).
func Prepare(docs, crds []manifest.Document, builtinDir string, opts Options, workDir string) (*Plan, error) {
	p, err := newPlan(docs, crds, builtinDir, opts, workDir)
	if err != nil {
		return nil, err
	}
	if err := p.writeDocs(workDir); err != nil {
		return nil, err
	}
	return p, nil
}

// writeDocs writes the batch files the kubeconform binary reads under workDir's DocsDir.
func (p *Plan) writeDocs(workDir string) error {
	for _, b := range p.files {
		if err := os.WriteFile(filepath.Join(workDir, DocsDir, b.file), b.buf.Bytes(), 0o644); err != nil {
			return &model.ToolError{Tool: toolName, Err: err}
		}
	}
	return nil
}

// batch is one file of documents for kubeconform. Within a batch, kind + apiVersion + name is
// unique, so each of kubeconform's results (which carry exactly those) maps back to one document.
type batch struct {
	file  string
	buf   bytes.Buffer
	n     int
	names map[resultKey]bool
	solo  bool // one document whose name kubeconform cannot report reliably
}

type resultKey struct{ kind, apiVersion, name string }

func (k resultKey) String() string { return k.kind + "\x00" + k.apiVersion + "\x00" + k.name }

// add appends a document (its text as docText gives it) to the batch; a batch file splits, the
// way kubeconform splits files, back into exactly these documents.
func (b *batch) add(raw []byte) {
	if b.n > 0 {
		b.buf.WriteString("---\n")
	}
	b.buf.Write(raw)
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		b.buf.WriteByte('\n')
	}
	b.n++
}

// docText is the text kubeconform is given for a document, as it would split it from a file:
// at lines starting with `---`, the rest of such a line being dropped. base is the file line of
// its first line, 0 when kubeconform is given re-encoded JSON.
func docText(d manifest.Document) (raw []byte, base int) {
	raw, base = d.Raw, d.RawLine
	if isSeparator(raw) {
		nl := bytes.IndexByte(raw, '\n')
		first := raw
		if nl >= 0 {
			first, raw = raw[:nl], raw[nl+1:]
		} else {
			raw = nil
		}
		base++
		if rest := bytes.TrimSpace(first[3:]); len(rest) > 0 && rest[0] != '#' {
			raw = nil // `--- {...}`: content kubeconform would drop with the separator line
		}
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] == '{' || d.Normalized || d.IsSecret() {
		// JSON (tabs are legal in it, not in YAML), List items, content moved off a separator,
		// documents whose merge keys the loader resolved, and Secrets (with their values
		// redacted: kubeconform needs their shape, not their data); such documents are always
		// fully decoded.
		obj := d.Object
		if d.IsSecret() {
			obj = manifest.Redacted(obj)
		}
		j, err := json.Marshal(obj)
		if err != nil {
			j = []byte("{}") // unreachable for decoded YAML/JSON; never fall back to a Secret's text
		}
		return j, 0
	}
	return raw, base
}

func isSeparator(raw []byte) bool {
	return bytes.HasPrefix(raw, []byte("---")) && (len(raw) == 3 || raw[3] == ' ' || raw[3] == '\t' || raw[3] == '\n' || raw[3] == '\r')
}

// docLine places a line number kubeconform reports for document i ("yaml: line 3") in its file.
func (p *Plan) docLine(i int, msg string) int {
	base := p.lineBase[i]
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil && base > 0 {
		n, _ := strconv.Atoi(m[1])
		return base + n - 1
	}
	return p.Docs[i].Line
}

// yamlLineRe finds the document-relative line in kubeconform's YAML errors: "yaml: line 3:
// ..." for syntax errors, "unmarshal errors:\n  line 7: key ..." for duplicate keys.
var yamlLineRe = regexp.MustCompile(`(?:yaml: |unmarshal errors:\s+)line (\d+)`)

// parseError finds, for a document of file that kubeconform could not parse (and so could not
// name), which one it is, by decoding each in full; the error names its file and line.
func (p *Plan) parseError(file, msg string) error {
	for _, i := range p.batches[file] {
		d := p.Docs[i]
		if _, err := manifest.Parse(d.File, d.Raw); err != nil {
			line := d.Line
			var ie *model.InputError
			if errors.As(err, &ie) && ie.Line > 0 && d.RawLine > 0 {
				line = d.RawLine + ie.Line - 1
			}
			detail := err.Error()
			if ie != nil {
				detail = strings.TrimPrefix(ie.Err.Error(), "document 1: ")
				detail = absoluteLines(detail, d.RawLine)
			}
			return &model.InputError{File: d.File, Line: line, Err: fmt.Errorf("document %d (%s): %s", d.Index+1, d.Resource(), detail)}
		}
	}
	// The YAML libraries disagree: still bad input, in one of these documents.
	var where []string
	for _, i := range p.batches[file] {
		where = append(where, fmt.Sprintf("%s:%d", p.Docs[i].File, p.Docs[i].Line))
	}
	if len(where) > 5 {
		where = append(where[:5], "...")
	}
	return &model.InputError{Err: fmt.Errorf("kubeconform cannot read a document among %s: %s", strings.Join(where, ", "), msg)}
}

// Locations are the kubeconform schema locations, in lookup order: CRD schemas (keyed by full
// group, so they never collide), the built-in schemas, then the user's. Never empty: with no
// location kubeconform would download schemas from the network.
func Locations(opts Options, builtinDir, crdDir string) []string {
	locs := []string{schemas.CRDLocation(crdDir)}
	if builtinDir != "" {
		locs = append(locs, schemas.Location(builtinDir))
	}
	return append(locs, opts.SchemaLocations...)
}

// Args are kubeconform's arguments for a run whose work dir kubeconform sees at workDir and
// whose built-in schemas it sees at builtinDir. The native runner and the Dagger module both use
// them.
func Args(opts Options, builtinDir, workDir string) []string {
	args := []string{"-output", "json", "-summary",
		"-kubernetes-version", schemas.NormalizeVersion(opts.KubernetesVersion)}
	if opts.Strict {
		args = append(args, "-strict")
	}
	if opts.Workers > 0 {
		args = append(args, "-n", strconv.Itoa(opts.Workers))
	}
	for _, l := range Locations(opts, builtinDir, filepath.ToSlash(filepath.Join(workDir, CRDDir))) {
		args = append(args, "-schema-location", l)
	}
	return append(args, filepath.ToSlash(filepath.Join(workDir, DocsDir)))
}

// resultName is the name kubeconform reports for a document: generateName + "{{ generateName }}"
// when generateName is set, else metadata.name. ok is false when either is not a plain string,
// since kubeconform may then report no name at all.
func resultName(d manifest.Document) (string, bool) {
	md, ok := d.Object["metadata"].(map[string]any)
	if !ok {
		return "", d.Object["metadata"] == nil
	}
	if gn, ok := md["generateName"]; ok && gn != nil {
		s, ok := gn.(string)
		if s != "" {
			return s + "{{ generateName }}", ok
		}
		return "", false
	}
	switch n := md["name"].(type) {
	case string:
		return n, true
	case nil:
		return "", true
	default:
		return "", false
	}
}

func (p *Plan) finding(id string, d manifest.Document, line int, path, msg string) model.Finding {
	r := rule(id, p.opts.MissingSchemaSeverity)
	f := model.Finding{
		Stage:    Name,
		RuleID:   id,
		Severity: r.Severity,
		Title:    r.Name,
		Message:  msg,
		Location: model.Location{File: d.File, Line: line, Resource: d.Resource()},
		Fix:      r.Fix,
		URL:      r.URL,
		Extra:    map[string]string{"document": strconv.Itoa(d.Index + 1), "apiVersion": d.APIVersion},
	}
	if path != "" {
		f.Extra["path"] = path
	}
	return f
}
