package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// kcResult is one entry of kubeconform's `-output json`.
type kcResult struct {
	Filename         string `json:"filename"`
	Kind             string `json:"kind"`
	Name             string `json:"name"`
	Version          string `json:"version"`
	Status           string `json:"status"`
	Msg              string `json:"msg"`
	ValidationErrors []struct {
		Path string `json:"path"`
		Msg  string `json:"msg"`
	} `json:"validationErrors"`
}

type kcOutput struct {
	Resources []kcResult `json:"resources"`
	Summary   *struct {
		Valid, Invalid, Errors, Skipped int
	} `json:"summary"`
}

// Parse turns kubeconform's JSON output (run with Args) into findings. Exit codes other than
// 0 and 1, output that is not kubeconform's JSON, a result for a document Tollgate did not hand
// over, or a summary that does not count every document are tool errors: the stage fails closed
// rather than pass documents kubeconform never checked. A document kubeconform could not parse
// is bad input (exit 2) at its file and line, not a schema violation.
func (p *Plan) Parse(stdout, stderr []byte, exitCode int) ([]model.Finding, error) {
	if exitCode != 0 && exitCode != 1 {
		return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("exit code %d: %s", exitCode, lastLines(stderr, stdout))}
	}
	var out kcOutput
	if err := json.Unmarshal(stdout, &out); err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("unreadable output (%v): %s", err, lastLines(stderr, stdout))}
	}
	if out.Summary == nil {
		return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("output has no summary: %s", lastLines(stderr, stdout))}
	}
	if n := out.Summary.Valid + out.Summary.Invalid + out.Summary.Errors + out.Summary.Skipped; n != p.Count {
		return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("checked %d document(s) but was given %d; refusing to pass unchecked documents", n, p.Count)}
	}
	if exitCode == 1 && out.Summary.Invalid+out.Summary.Errors == 0 {
		return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("exit code 1 without an invalid document: %s", lastLines(stderr, stdout))}
	}
	var findings []model.Finding
	var bad manifest.Errors // every document kubeconform could not read, not only the first
	for _, r := range out.Resources {
		file := path.Base(filepath.ToSlash(r.Filename))
		i, ok := p.results[file+"\x00"+resultKey{r.Kind, r.Version, r.Name}.String()]
		if !ok {
			i, ok = p.results[file]
		}
		if !ok && r.Status == "statusError" && isParseError(r.Msg) {
			if err := addInputError(&bad, p.parseError(file, r.Msg)); err != nil { // kubeconform could not even read the name
				return nil, err
			}
			continue
		}
		if !ok {
			return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("result for a document Tollgate did not hand over: %s %s %q in %s", r.Version, r.Kind, r.Name, r.Filename)}
		}
		if err := p.interpret(i, r, &findings, &bad); err != nil {
			return nil, err
		}
	}
	return sortedOrInput(findings, bad)
}

// interpret adds kubeconform's verdict r on document i to findings, or to bad when the
// document is not readable YAML; anything else it cannot place is a tool error.
func (p *Plan) interpret(i int, r kcResult, findings *[]model.Finding, bad *manifest.Errors) error {
	d := p.Docs[i]
	switch r.Status {
	case "statusValid":
	case "statusSkipped":
		*findings = append(*findings, p.noSchema(d))
	case "statusInvalid":
		for _, e := range leafErrors(r) {
			id := RuleSchema
			if strings.HasPrefix(e.msg, "unknown field") {
				id = RuleUnknownField
			}
			msg := readablePath(e.path) + ": " + e.msg
			if strings.Contains(e.msg, "got boolean") && isYAML11Bool(valueText(d, e.path)) {
				msg += " (YAML reads unquoted yes, no, on, off, y and n as booleans: quote the value)"
			}
			*findings = append(*findings, p.finding(id, d, pathLine(d, e.path, e.msg), e.path, msg))
		}
	case "statusError":
		switch {
		case strings.Contains(r.Msg, "could not find schema"):
			*findings = append(*findings, p.noSchema(d))
		case isParseError(r.Msg):
			// kubeconform's "statusError" for YAML it cannot read: bad input, not a finding.
			msg := strings.TrimPrefix(r.Msg, "error unmarshalling resource: ")
			msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
			msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:")
			msg = strings.Join(strings.Fields(msg), " ")
			msg = absoluteLines(msg, p.lineBase[i])
			*bad = append(*bad, &model.InputError{File: d.File, Line: p.docLine(i, r.Msg), Err: fmt.Errorf("document %d (%s): invalid YAML: %s", d.Index+1, d.Resource(), msg)})
		default:
			return &model.ToolError{Tool: toolName, Err: fmt.Errorf("%s %s: %s", d.File, d.Resource(), r.Msg)}
		}
	default:
		return &model.ToolError{Tool: toolName, Err: fmt.Errorf("unknown status %q for %s", r.Status, d.Resource())}
	}
	return nil
}

// sortedOrInput returns the findings, or, when some documents were not readable, every one of
// them as bad input in file and line order.
func sortedOrInput(findings []model.Finding, bad manifest.Errors) ([]model.Finding, error) {
	if len(bad) > 0 {
		sort.SliceStable(bad, func(i, j int) bool {
			if bad[i].File != bad[j].File {
				return bad[i].File < bad[j].File
			}
			return bad[i].Line < bad[j].Line
		})
		if len(bad) == 1 {
			return nil, bad[0]
		}
		return nil, bad
	}
	return findings, nil
}

// addInputError collects an input error; any other error is returned.
func addInputError(bad *manifest.Errors, err error) error {
	var many manifest.Errors
	var ie *model.InputError
	switch {
	case errors.As(err, &many):
		*bad = append(*bad, many...)
	case errors.As(err, &ie):
		*bad = append(*bad, ie)
	default:
		return err
	}
	return nil
}

// noSchema is the finding for a resource kubeconform found no schema for: a removed API
// version says so and names its replacement; anything else asks for its CRD.
func (p *Plan) noSchema(d manifest.Document) model.Finding {
	if r, ok := removedIn(d.APIVersion, d.Kind, p.opts.KubernetesVersion); ok {
		return p.finding(RuleRemovedAPI, d, d.Line, "", removedMessage(d.APIVersion, d.Kind, r))
	}
	return p.finding(RuleNoSchema, d, d.Line, "", noSchemaMessage(d.APIVersion, d.Kind, p.opts.KubernetesVersion))
}

var relLineRe = regexp.MustCompile(`\bline (\d+)\b`)

// absoluteLines rewrites "line N" in a message about a document whose text starts at file
// line base (N counts from the document's first line) to the file's line numbers.
func absoluteLines(msg string, base int) string {
	if base <= 1 {
		return msg
	}
	return relLineRe.ReplaceAllStringFunc(msg, func(s string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
		return fmt.Sprintf("line %d", base+n-1)
	})
}

func isParseError(msg string) bool {
	return strings.HasPrefix(msg, "error unmarshalling resource") || strings.HasPrefix(msg, "error while parsing")
}

func noSchemaMessage(apiVersion, kind, k8sVersion string) string {
	return fmt.Sprintf("no schema for %s %s (Kubernetes %s, CRDs in the inputs or validate.crds, validate.schema-locations): the resource was not validated",
		apiVersion, kind, k8sVersion)
}

type leafError struct{ path, msg string }

// atRe finds "at '<path>': <message>" parts in kubeconform's message, which flattens the whole
// jsonschema error tree onto one line; its validationErrors list keeps only the first level
// ("validation failed" for a container), so the leaves come from the message.
var atRe = regexp.MustCompile(`(?:^|\s)- at '([^']*)': `)

func leafErrors(r kcResult) []leafError {
	var out []leafError
	locs := atRe.FindAllStringSubmatchIndex(r.Msg, -1)
	for i, l := range locs {
		end := len(r.Msg)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		msg := strings.TrimSpace(r.Msg[l[1]:end])
		if msg == "validation failed" || msg == "" {
			continue // a parent of more precise errors
		}
		out = append(out, leafError{path: r.Msg[l[2]:l[3]], msg: friendlier(msg)})
	}
	if len(out) == 0 {
		for _, e := range r.ValidationErrors {
			out = append(out, leafError{path: e.Path, msg: friendlier(e.Msg)})
		}
	}
	if len(out) == 0 {
		out = append(out, leafError{msg: r.Msg})
	}
	return out
}

var (
	patternRe    = regexp.MustCompile(`^('.*') does not match pattern '.*\[KMGTPE\]i.*'$`)
	additionalRe = regexp.MustCompile(`^additional propert(?:y|ies) (.*) not allowed$`)
)

// friendlier rewrites messages whose raw form is unreadable or misleading.
func friendlier(msg string) string {
	if m := patternRe.FindStringSubmatch(msg); m != nil {
		return m[1] + " is not a valid quantity (examples: 500m, 0.5, 128Mi, 1G)"
	}
	if m := additionalRe.FindStringSubmatch(msg); m != nil {
		return "unknown field " + m[1] + " (additional properties not allowed)"
	}
	// Optional enums accept null (the API server drops it); listing <nil> as a choice confuses.
	return strings.TrimSuffix(msg, ", <nil>")
}

// readablePath turns a JSON pointer into spec.containers[0].image.
func readablePath(p string) string {
	if p == "" || p == "/" {
		return "(top level)"
	}
	var b strings.Builder
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

func lastLines(stderr, stdout []byte) string {
	s := strings.TrimSpace(string(stderr))
	if s == "" {
		s = strings.TrimSpace(string(stdout))
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	s = strings.Join(lines, "\n")
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return s
}
