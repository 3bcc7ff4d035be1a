package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// gatorResult is one violation in `gator test --output json` (gator v3.23.1, pkg/gator/test
// GatorResult: the constraint framework's types.Result plus the violating object).
type gatorResult struct {
	Target   string `json:"target"`
	Msg      string `json:"msg"`
	Metadata struct {
		Details map[string]any `json:"details"`
	} `json:"metadata"`
	Constraint *struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	} `json:"constraint"`
	EnforcementAction string         `json:"enforcementAction"`
	ScopedActions     []string       `json:"scopedActions"`
	ViolatingObject   map[string]any `json:"violatingObject"`
}

// action is what Gatekeeper does about a result: deny, warn or dryrun. A scoped constraint's
// result carries the actions of the enforcement point it was evaluated for; the strictest wins.
func (r gatorResult) action() (string, error) {
	switch r.EnforcementAction {
	case actionDeny, actionWarn, actionDryrun:
		return r.EnforcementAction, nil
	case actionScoped:
		best := ""
		for _, a := range r.ScopedActions {
			switch {
			case a == actionDeny:
				return actionDeny, nil
			case a == actionWarn:
				best = actionWarn
			case a == actionDryrun && best == "":
				best = actionDryrun
			}
		}
		if best == "" {
			return "", fmt.Errorf("scoped result without a known action (%v)", r.ScopedActions)
		}
		return best, nil
	}
	return "", fmt.Errorf("unknown enforcementAction %q", r.EnforcementAction)
}

// parseResults reads gator's JSON output: a list of results, or null for none. Anything else,
// including trailing data, is not gator's output.
func parseResults(out []byte) ([]gatorResult, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	var rs []gatorResult
	if err := dec.Decode(&rs); err != nil {
		return nil, fmt.Errorf("read gator JSON output: %w (output starts %q)", err, head(out))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("read gator JSON output: unexpected data after the JSON document")
	}
	return rs, nil
}

// Interpret turns a finished `gator test` run into findings; both runners use it. gator exits 1
// when a deny constraint is violated, and also when it cannot run at all (then stdout is empty
// and stderr says why): a template or constraint it refuses is an input error naming its file,
// anything else a *model.ToolError. Output that is not gator's JSON, results about objects or
// constraints it was not given, and an exit code that contradicts the output are tool errors
// too, so the stage fails closed.
func Interpret(exitCode int, stdout, stderr []byte, b *Batch) ([]model.Finding, error) {
	toolErr := func(err error) error {
		if msg := strings.TrimSpace(tools.LastLines(stderr, 5)); msg != "" {
			err = fmt.Errorf("%w; stderr: %s", err, msg)
		}
		return &model.ToolError{Tool: toolName, Err: err}
	}
	if exitCode != 0 && exitCode != 1 {
		return nil, toolErr(fmt.Errorf("exited with code %d", exitCode))
	}
	if exitCode == 1 && len(bytes.TrimSpace(stdout)) == 0 {
		if err := b.policyError(stderr); err != nil {
			return nil, err
		}
		return nil, toolErr(errors.New("exited with code 1 without output"))
	}
	rs, err := parseResults(stdout)
	if err != nil {
		if exitCode != 0 {
			err = fmt.Errorf("exited with code %d: %w", exitCode, err)
		}
		return nil, toolErr(err)
	}
	findings := []model.Finding{}
	seen := map[string]bool{}
	denied := false
	for _, r := range rs {
		f, act, err := b.finding(r)
		if err != nil {
			return nil, toolErr(err)
		}
		denied = denied || act == actionDeny
		key := strings.Join([]string{f.RuleID, f.Location.File, strconv.Itoa(f.Location.Line), f.Location.Resource, f.Message}, "\x00")
		if !seen[key] {
			seen[key] = true
			findings = append(findings, f)
		}
	}
	if (exitCode == 1) != denied {
		return nil, toolErr(fmt.Errorf("exit code %d does not match its output (%d result(s), deny: %t)", exitCode, len(rs), denied))
	}
	sortFindings(findings)
	return findings, nil
}

func (b *Batch) finding(r gatorResult) (model.Finding, string, error) {
	if r.Constraint == nil || r.Constraint.Kind == "" || r.Constraint.Metadata.Name == "" {
		return model.Finding{}, "", errors.New("a result names no constraint")
	}
	id := r.Constraint.Kind + "/" + r.Constraint.Metadata.Name
	c, ok := b.constraints[id]
	if !ok {
		return model.Finding{}, "", fmt.Errorf("gator reported constraint %s, which is not among its inputs", id)
	}
	if r.ViolatingObject == nil {
		return model.Finding{}, "", fmt.Errorf("a result of %s names no object", id)
	}
	i, ok := b.lookup(r.ViolatingObject)
	if !ok {
		return model.Finding{}, "", fmt.Errorf("gator reported on %s, which is not among its inputs", describeObject(r.ViolatingObject))
	}
	act, err := r.action()
	if err != nil {
		return model.Finding{}, "", fmt.Errorf("result of %s: %w", id, err)
	}
	d := b.docs[i]
	t := b.templates[c.Kind]
	msg := strings.TrimSpace(r.Msg)
	if strings.HasPrefix(msg, "unable to match constraints") {
		// Gatekeeper rejects what it cannot match (fail closed); say what is missing.
		msg += " (a namespaceSelector needs the object's Namespace among the manifests)"
	}
	f := model.Finding{
		Stage:    Name,
		RuleID:   id,
		Severity: c.severity,
		Title:    annotation(t.Doc, annotationTitle, c.Kind),
		Message:  msg,
		Location: model.Location{File: d.File, Line: d.Line, Resource: resource(d, b.namespaces.of(d))},
		Fix:      b.fix(d, c, t, r.Metadata.Details),
		Extra: map[string]string{
			"constraint":        id,
			"enforcementAction": act,
		},
	}
	if act != actionDeny {
		reason := "enforcementAction warn: Gatekeeper admits the resource and returns this warning"
		if act == actionDryrun {
			reason = "enforcementAction dryrun: Gatekeeper admits the resource and only its audit reports this"
		}
		f.Suppression = &model.Suppression{Kind: "enforcement-action", Reason: reason}
	}
	return f, act, nil
}

// fix is the YAML to add: the template's concrete fragment from the violation's details when it
// gives one (fix_pod_spec: a pod-spec fragment; fix_object: a fragment of the object; fix_new: a
// document to add), else the constraint's or the template's tollgate.dev/fix annotation.
func (b *Batch) fix(d manifest.Document, c constraintInfo, t Template, details map[string]any) string {
	if frag, ok := details["fix_pod_spec"].(map[string]any); ok && len(frag) > 0 {
		return wrapPodSpecFix(d, frag)
	}
	if frag, ok := details["fix_object"].(map[string]any); ok && len(frag) > 0 {
		return renderYAML(frag)
	}
	if doc, ok := details["fix_new"].(map[string]any); ok && len(doc) > 0 {
		return "# add this document:\n" + renderYAML(doc)
	}
	if fx := annotation(c.Doc, annotationFix, ""); fx != "" {
		return strings.TrimRight(fx, "\n")
	}
	return strings.TrimRight(annotation(t.Doc, annotationFix, ""), "\n")
}

// policyError recognises gator refusing a template or a constraint ("adding template "x": ...",
// "adding constraint "y": ...") and names its file and line; nil when stderr says something else.
func (b *Batch) policyError(stderr []byte) error {
	msg := strings.TrimSpace(tools.LastLines(stderr, 5))
	m := refusedRe.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	what, name := m[1], m[2]
	detail := strings.TrimSpace(msg[strings.Index(msg, m[0])+len(m[0]):])
	detail = strings.TrimPrefix(detail, ":")
	switch what {
	case "template":
		for _, t := range b.templates {
			if t.Doc.Name == name {
				return model.InputErrorf(t.Doc.File, regoLine(t.Doc, detail), "gator refused ConstraintTemplate %q:%s", name, detail)
			}
		}
	case "constraint":
		var hits []constraintInfo
		for _, c := range b.constraints {
			if c.Name == name {
				hits = append(hits, c)
			}
		}
		if len(hits) == 1 {
			return model.InputErrorf(hits[0].Doc.File, hits[0].Doc.Line, "gator refused Constraint %s:%s", hits[0].ID(), detail)
		}
	}
	return nil
}

var (
	refusedRe = regexp.MustCompile(`adding (template|constraint) "([^"]+)"`)
	// regoErrRe finds "<module>:LINE: rego_..._error" in OPA's messages about a template's code.
	regoErrRe = regexp.MustCompile(`:(\d+): rego_[a-z_]+_error`)
)

// regoLine maps a Rego error's line inside the template's code to the line of the file, when the
// document's raw text is at hand; else it is the document's first line.
func regoLine(d manifest.Document, detail string) int {
	m := regoErrRe.FindStringSubmatch(detail)
	if m == nil || len(d.Raw) == 0 || d.RawLine == 0 {
		return d.Line
	}
	n, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(d.Raw), "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "rego: |" || t == "rego: |-" || t == "rego: |+" {
			if i+n < len(lines) {
				return d.RawLine + i + n
			}
		}
	}
	return d.Line
}

func annotation(d manifest.Document, key, def string) string {
	if v := stringMap(d.Object, "metadata", "annotations")[key]; v != "" {
		return v
	}
	return def
}

// resource is Kind/namespace/name with the namespace the document lands in.
func resource(d manifest.Document, ns string) string {
	if ns == "" {
		return d.Kind + "/" + d.Name
	}
	return d.Kind + "/" + ns + "/" + d.Name
}

func describeObject(obj map[string]any) string {
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	if ns == "" {
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
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
		return a.Message < c.Message
	})
}

func head(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}
