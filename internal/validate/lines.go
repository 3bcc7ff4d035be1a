package validate

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/manifest"
)

var firstPropRe = regexp.MustCompile(`^unknown field '([^']+)'`)

// pathLine finds the line of the field a validation error is about, so a finding points at
// `replica: 2` rather than at the top of a 200-line Deployment. It falls back to the document's
// line when the document's text is not the file's own (List items, kustomize output).
func pathLine(d manifest.Document, ptr, msg string) int {
	if d.RawLine == 0 || ptr == "" && !strings.HasPrefix(msg, "unknown field") {
		return d.Line
	}
	var root yaml.Node
	if err := yaml.Unmarshal(d.Raw, &root); err != nil || len(root.Content) == 0 {
		return d.Line
	}
	segs := []string{}
	if p := strings.TrimPrefix(ptr, "/"); p != "" {
		segs = strings.Split(p, "/")
	}
	if m := firstPropRe.FindStringSubmatch(msg); m != nil {
		segs = append(segs, m[1]) // point at the unknown key itself
	}
	n := root.Content[0]
	line := n.Line
	for _, seg := range segs {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		next, keyLine := child(n, seg)
		if next == nil {
			break
		}
		n, line = next, keyLine
	}
	return d.RawLine + line - 1
}

// child steps into a mapping key or a sequence index; it returns the child and the line to
// report (the key's line for mappings).
func child(n *yaml.Node, seg string) (*yaml.Node, int) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				return n.Content[i+1], n.Content[i].Line
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i], n.Content[i].Line
		}
	}
	return nil, 0
}

// valueText is the text of the scalar at JSON pointer ptr as written in the document ("" when
// the document's text is not the file's own, or the value is not a scalar).
func valueText(d manifest.Document, ptr string) string {
	if d.RawLine == 0 || ptr == "" {
		return ""
	}
	var root yaml.Node
	if err := yaml.Unmarshal(d.Raw, &root); err != nil || len(root.Content) == 0 {
		return ""
	}
	n := root.Content[0]
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		if n, _ = child(n, seg); n == nil {
			return ""
		}
	}
	if n.Kind != yaml.ScalarNode || n.Style != 0 {
		return ""
	}
	return n.Value
}

// isYAML11Bool reports whether a plain scalar is one that YAML 1.1 (what Kubernetes reads)
// takes for a boolean while it looks like a word.
func isYAML11Bool(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF":
		return true
	}
	return false
}
