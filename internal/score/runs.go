package score

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Exec runs kube-score once on inputs (each written where the tool reads it, arguments from
// Args) and returns its exit code and output. It is the only part that differs between the
// native runner (a local process) and the Dagger module (a container).
type Exec func(ctx context.Context, inputs []Input) (exitCode int, stdout, stderr []byte, err error)

// Outcome is a scored set of documents.
type Outcome struct {
	Findings []model.Finding
	Rules    []model.Rule
	// Raw is kube-score's own JSON output: one array with the objects of every run.
	Raw []byte
}

// RuleUnscored is the finding for a document kube-score cannot read (a field of the wrong
// type, such as `port: "eighty"` or an unquoted `name: yes`, which YAML reads as a boolean).
// It is CRITICAL so that it blocks at any threshold: the gate did not look at that document.
const RuleUnscored = "unscored-document"

func unscoredRule() model.Rule {
	return model.Rule{ID: RuleUnscored, Name: "Document kube-score cannot read", Severity: model.SeverityCritical,
		Summary: "kube-score decodes each object into the Kubernetes API types; a field of the wrong type stops it, so the object was not scored.",
		Fix:     "Fix the field's type (the validate stage names it too); quote values YAML would read as numbers or booleans.",
		URL:     checksDocURL}
}

// Run scores documents with kube-score through exec, the way both runners do:
//   - only the kinds kube-score scores are handed over (others, Secrets included, never leave);
//   - objects with the same kind, namespace and name (two environments' copies of one
//     Deployment) go to separate kube-score runs, since kube-score merges them into one
//     object and would report both under one file; the other objects go to every run, so
//     checks that relate objects (Service to Pod, NetworkPolicy, PodDisruptionBudget) still
//     see them, and their findings are reported once;
//   - a document kube-score cannot decode does not stop the others: the documents it rejects
//     are found by halving the inputs, reported as RuleUnscored findings at their file and
//     line, and the rest is scored.
func Run(ctx context.Context, o Options, docs []manifest.Document, exec Exec) (*Outcome, error) {
	return RunIn(ctx, o, "", docs, exec)
}

// RunIn is Run with the project root the documents' files are relative to: project files whose
// documents kube-score can read as they are are handed over as they are (Input.Path), the
// others are written into one file (see batcher). With root "" every input is written.
func RunIn(ctx context.Context, o Options, root string, docs []manifest.Document, exec Exec) (*Outcome, error) {
	return runIn(ctx, o, root, docs, exec, true, 1)
}

// runIn is RunIn that builds Outcome.Raw only when keepRaw is set: kube-score's output is large
// (every check of every object) and decoding it twice costs more than the rest of the stage.
// With parallel > 1, a large run is split into sets of documents no check relates (split) and
// the sets are scored by that many kube-score processes at once.
func runIn(ctx context.Context, o Options, root string, docs []manifest.Document, exec Exec, keepRaw bool, parallel int) (*Outcome, error) {
	out := &Outcome{Findings: []model.Finding{}}
	var scored []manifest.Document
	for _, d := range docs {
		if scoredKinds[d.APIVersion+"/"+d.Kind] {
			scored = append(scored, d)
		}
	}
	if len(scored) == 0 {
		out.Raw = []byte("[]\n")
		return out, nil
	}
	var parts [][]manifest.Document
	for _, run := range partition(scored) {
		parts = append(parts, split(run, parallel)...)
	}
	bt := newBatcher(root, docs)
	results := make([]partResult, len(parts))
	errs := make([]error, len(parts))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, part := range parts {
		sem <- struct{}{}
		if ctx.Err() != nil { // a part failed: the run fails with its error
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i], errs[i] = scorePart(ctx, o, bt, part, exec, keepRaw)
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs { // the first part's error, as a single process would report it
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	var unscored []model.Finding
	seen := map[string]bool{}
	rules := map[string]model.Rule{}
	var raws []json.RawMessage
	for _, r := range results {
		for _, f := range r.findings {
			if k := findingKey(f); !seen[k] {
				seen[k] = true
				out.Findings = append(out.Findings, f)
			}
		}
		for _, f := range r.unscored {
			if k := findingKey(f); !seen[k] {
				seen[k] = true
				unscored = append(unscored, f)
			}
		}
		for _, r := range r.rules {
			rules[r.ID] = r
		}
		raws = append(raws, r.raws...)
	}
	out.Findings = append(out.Findings, unscored...)
	sortFindings(out.Findings)
	for _, r := range rules {
		out.Rules = append(out.Rules, r)
	}
	sort.Slice(out.Rules, func(i, j int) bool { return out.Rules[i].ID < out.Rules[j].ID })
	if !keepRaw {
		return out, nil
	}
	if raws == nil {
		raws = []json.RawMessage{}
	}
	raw, err := json.MarshalIndent(raws, "", "  ")
	if err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: err}
	}
	out.Raw = append(raw, '\n')
	return out, nil
}

// partResult is what one kube-score run found.
type partResult struct {
	findings, unscored []model.Finding
	rules              []model.Rule
	raws               []json.RawMessage
}

// scorePart scores one set of documents with one kube-score run, or, when kube-score refuses
// some of them, finds those (findUnreadable) and scores the rest.
func scorePart(ctx context.Context, o Options, bt *batcher, run []manifest.Document, exec Exec, keepRaw bool) (partResult, error) {
	var res partResult
	b, err := bt.batch(run)
	if err != nil {
		return res, &model.ToolError{Tool: toolName, Err: err}
	}
	code, stdout, stderr, err := exec(ctx, b.Inputs)
	if err != nil {
		return res, err
	}
	if isParseFailure(code, stdout, stderr) {
		bad, err := findUnreadable(ctx, exec, bt, run)
		if err != nil {
			return res, err
		}
		var good []manifest.Document
		for i, d := range run {
			if u, ok := bad[i]; ok {
				res.unscored = append(res.unscored, unscoredFinding(d, u))
				continue
			}
			good = append(good, d)
		}
		res.rules = append(res.rules, unscoredRule())
		if len(good) == 0 {
			return res, nil
		}
		if b, err = bt.batch(good); err != nil {
			return res, &model.ToolError{Tool: toolName, Err: err}
		}
		if code, stdout, stderr, err = exec(ctx, b.Inputs); err != nil {
			return res, err
		}
	}
	findings, rs, err := Interpret(code, stdout, stderr, o, b)
	if err != nil {
		return res, err
	}
	res.findings = findings
	res.rules = append(res.rules, rs...)
	var objs []json.RawMessage
	if keepRaw && json.Unmarshal(stdout, &objs) == nil {
		res.raws = objs
	}
	return res, nil
}

// partition splits documents into kube-score runs in which no two objects share kube-score's
// key (kind, apiVersion, namespace, name). The n-th copy of a key goes to run n; objects with
// a key of their own go to every run.
func partition(docs []manifest.Document) [][]manifest.Document {
	count := map[string]int{}
	for _, d := range docs {
		count[objectKey(d)]++
	}
	runs := 1
	for _, n := range count {
		runs = max(runs, n)
	}
	if runs == 1 {
		return [][]manifest.Document{docs}
	}
	out := make([][]manifest.Document, runs)
	occ := map[string]int{}
	for _, d := range docs {
		k := objectKey(d)
		if count[k] == 1 {
			for r := range out {
				out[r] = append(out[r], d)
			}
			continue
		}
		out[occ[k]] = append(out[occ[k]], d)
		occ[k]++
	}
	return out
}

// isParseFailure recognises kube-score refusing its inputs: it exits 1 with no output and
// "failed to parse files" on stderr when a document does not decode into the API types.
func isParseFailure(code int, stdout, stderr []byte) bool {
	return code == 1 && len(bytes.TrimSpace(stdout)) == 0 && bytes.Contains(stderr, []byte("failed to parse files"))
}

// findUnreadable finds which documents of a run kube-score cannot decode, by halving: a half
// that kube-score reads is done, one it refuses is halved again, down to single documents.
// It returns kube-score's reason per document index of run.
func findUnreadable(ctx context.Context, exec Exec, bt *batcher, run []manifest.Document) (map[int]unreadable, error) {
	bad := map[int]unreadable{}
	var search func(idx []int) error
	search = func(idx []int) error {
		part := make([]manifest.Document, len(idx))
		for i, j := range idx {
			part[i] = run[j]
		}
		b, err := bt.batch(part)
		if err != nil {
			return &model.ToolError{Tool: toolName, Err: err}
		}
		code, stdout, stderr, err := exec(ctx, b.Inputs)
		if err != nil {
			return err
		}
		if !isParseFailure(code, stdout, stderr) {
			return nil
		}
		if len(idx) == 1 {
			field, msg := parseReason(stderr)
			bad[idx[0]] = unreadable{field, msg}
			return nil
		}
		if err := search(idx[:len(idx)/2]); err != nil {
			return err
		}
		return search(idx[len(idx)/2:])
	}
	all := make([]int, len(run))
	for i := range all {
		all[i] = i
	}
	if err := search(all[:len(all)/2]); err != nil {
		return nil, err
	}
	if err := search(all[len(all)/2:]); err != nil {
		return nil, err
	}
	if len(bad) == 0 {
		return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("refuses its inputs together but reads each part alone")}
	}
	return bad, nil
}

var (
	reasonRe  = regexp.MustCompile(`Failed to parse ([^:]+): err=(.*)`)
	goFieldRe = regexp.MustCompile(`^json: cannot unmarshal (\w+) into Go struct field \w+\.(\S+) of type (\S+)$`)
)

// parseReason turns kube-score's decode error into a sentence; field is the dotted path of the
// offending field when kube-score names one.
func parseReason(stderr []byte) (field, msg string) {
	msg = strings.TrimSpace(string(stderr))
	if i := strings.LastIndex(msg, "\n"); i >= 0 {
		msg = strings.TrimSpace(msg[i+1:])
	}
	if m := reasonRe.FindStringSubmatch(msg); m != nil {
		msg = strings.TrimSpace(m[2])
	}
	if m := goFieldRe.FindStringSubmatch(msg); m != nil {
		field = m[2]
		msg = fmt.Sprintf("%s: a %s where the API wants %s", m[2], m[1], m[3])
		if m[1] == "bool" {
			msg += " (YAML reads unquoted yes, no, on, off, y and n as booleans: quote the value)"
		}
	}
	return field, msg
}

type unreadable struct{ field, msg string }

func unscoredFinding(d manifest.Document, u unreadable) model.Finding {
	r := unscoredRule()
	line := d.Line
	if l := fieldLine(d, u.field); l > 0 {
		line = l
	}
	return model.Finding{Stage: Name, RuleID: r.ID, Severity: r.Severity, Title: r.Name,
		Message:  "kube-score cannot read this document, so it was not scored: " + u.msg,
		Location: model.Location{File: d.File, Line: line, Resource: d.Resource()},
		Fix:      r.Fix, URL: r.URL}
}

// fieldLine finds the line of a dotted field path (without list indexes, as Go's JSON errors
// name it) in the document's own text; 0 when the text is not the file's (rendered output).
func fieldLine(d manifest.Document, path string) int {
	if path == "" || d.RawLine == 0 || len(d.Raw) == 0 || strings.ContainsAny(path, " \t") {
		return 0
	}
	var root yaml.Node
	if yaml.Unmarshal(d.Raw, &root) != nil || len(root.Content) == 0 {
		return 0
	}
	var find func(n *yaml.Node, segs []string) int
	find = func(n *yaml.Node, segs []string) int {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.SequenceNode:
			for _, e := range n.Content {
				if l := find(e, segs); l > 0 {
					return l
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value != segs[0] {
					continue
				}
				if len(segs) == 1 {
					return n.Content[i].Line
				}
				if l := find(n.Content[i+1], segs[1:]); l > 0 {
					return l
				}
			}
		}
		return 0
	}
	l := find(root.Content[0], strings.Split(path, "."))
	if l == 0 {
		return 0
	}
	return d.RawLine + l - 1
}

func findingKey(f model.Finding) string {
	return strings.Join([]string{f.RuleID, f.Location.File, strconv.Itoa(f.Location.Line), f.Location.Resource, f.Message}, "\x00")
}

func sortFindings(fs []model.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, c := fs[i], fs[j]
		if a.Location.File != c.Location.File {
			return a.Location.File < c.Location.File
		}
		if a.Location.Line != c.Location.Line {
			return a.Location.Line < c.Location.Line
		}
		if a.RuleID != c.RuleID {
			return a.RuleID < c.RuleID
		}
		return a.Location.Resource < c.Location.Resource
	})
}
