package manifest

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// The shared loader reads YAML the way Kubernetes does (kubectl, the API server's YAML path,
// kubeconform and kube-score all go through sigs.k8s.io/yaml, a YAML 1.1 reader):
//   - the plain scalars y, n, yes, no, on, off (in any of their capitalisations) are booleans,
//     so `name: yes` is a boolean name the API server rejects, as bare kubeconform says;
//   - merge keys (`<<: *base`) are resolved, and keys written in the mapping itself override
//     merged ones (what kubectl sends to the API server). Tools get such a document re-encoded
//     as JSON with the merges applied, so validate and score decide alike;
//   - a key written twice in one mapping is an error naming both lines.
// The tree is converted here rather than by yaml.v3's decoder, whose duplicate-key check
// compares every pair of keys: minutes for a ConfigMap with 150,000 keys, linear here.

// yaml11Bools are the plain scalars YAML 1.1 (go-yaml v2, sigs.k8s.io/yaml) reads as booleans
// that yaml.v3 (YAML 1.2) reads as strings.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

// maxExpansion bounds the values aliases may expand to, over the document's own size: a few
// kilobytes of nested aliases can otherwise expand to gigabytes (the "billion laughs").
const maxExpansion = 1_000_000

// converter turns a yaml.v3 node tree into plain Go values (map[string]any, []any, scalars).
type converter struct {
	budget int  // values still allowed through aliases
	merged bool // a merge key was resolved
}

// dupKeyError is a key defined twice in one mapping; lines are relative to the decoded text.
type dupKeyError struct {
	key         string
	line, first int
}

func (e *dupKeyError) Error() string {
	return fmt.Sprintf("line %d: key %q is already defined at line %d", e.line, e.key, e.first)
}

// nodeError is any other problem with the tree, at a line relative to the decoded text.
type nodeError struct {
	line int
	msg  string
}

func (e *nodeError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// decodeYAML parses one YAML document and converts it. It returns the root content node too
// (nil for an empty document), for callers that need the lines of parts of it.
func decodeYAML(text []byte) (v any, root *yaml.Node, merged bool, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, nil, false, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil, false, nil
	}
	c := &converter{budget: maxExpansion}
	v, err = c.value(doc.Content[0], 0)
	return v, doc.Content[0], c.merged, err
}

const maxDepth = 1000

func (c *converter) value(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, &nodeError{n.Line, "nested too deeply"}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, &nodeError{n.Line, "unknown alias"}
		}
		c.budget -= size(n.Alias, c.budget+1)
		if c.budget < 0 {
			return nil, &nodeError{n.Line, "aliases expand to too many values (a YAML bomb?)"}
		}
		return c.value(n.Alias, depth+1)
	case yaml.ScalarNode:
		return scalar(n)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, e := range n.Content {
			v, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	}
	return nil, &nodeError{n.Line, "unknown YAML node"}
}

// mapping converts a mapping: explicit keys first (a repeated one is an error), then the
// merged mappings, whose keys apply only where nothing set them before (YAML's merge rule:
// the mapping's own keys win, then earlier merged mappings over later ones).
func (c *converter) mapping(n *yaml.Node, depth int) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	lines := make(map[string]int, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		key, err := c.key(k, depth)
		if err != nil {
			return nil, err
		}
		if first, dup := lines[key]; dup {
			return nil, &dupKeyError{key: key, line: k.Line, first: first}
		}
		lines[key] = k.Line
		val, err := c.value(v, depth+1)
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	for _, m := range merges {
		c.merged = true
		srcs := []*yaml.Node{m}
		if deref(m).Kind == yaml.SequenceNode {
			srcs = deref(m).Content
		}
		for _, s := range srcs {
			v, err := c.value(s, depth+1)
			if err != nil {
				return nil, err
			}
			mm, ok := v.(map[string]any)
			if !ok {
				return nil, &nodeError{s.Line, "a merge key (<<) needs a mapping or a list of mappings"}
			}
			for k, x := range mm {
				if _, set := out[k]; !set {
					out[k] = x
				}
			}
		}
	}
	return out, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// key converts a mapping key to the string Kubernetes sees (sigs.k8s.io/yaml prints
// non-string keys: `1:` is "1", `on:` is "true").
func (c *converter) key(k *yaml.Node, depth int) (string, error) {
	if k.Kind == yaml.ScalarNode && k.Tag == "!!str" && (k.Style != 0 || !isYAML11Bool(k.Value)) {
		return k.Value, nil
	}
	v, err := c.value(k, depth+1)
	if err != nil {
		return "", err
	}
	switch v.(type) {
	case map[string]any, []any:
		return "", &nodeError{k.Line, "invalid map key (a mapping or `{{ }}` used as a key)"}
	case nil:
		return "null", nil
	}
	return fmt.Sprint(v), nil
}

func isYAML11Bool(s string) bool { _, ok := yaml11Bools[s]; return ok }

// scalar decodes one scalar with yaml.v3, except YAML 1.1's extra booleans.
func scalar(n *yaml.Node) (any, error) {
	if n.Tag == "!!str" {
		if n.Style == 0 {
			if b, ok := yaml11Bools[n.Value]; ok {
				return b, nil
			}
		}
		return n.Value, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, &nodeError{n.Line, err.Error()}
	}
	return v, nil
}

// size counts the nodes under n, stopping once it passes limit.
func size(n *yaml.Node, limit int) int {
	count := 1
	for _, c := range n.Content {
		if count > limit {
			break
		}
		count += size(deref(c), limit-count)
	}
	return count
}
