// Package schemas turns the Kubernetes OpenAPI spec and CustomResourceDefinitions into the JSON
// schemas kubeconform reads from disk, so validation runs offline and custom resources are
// validated instead of skipped.
//
// The conversion avoids the traps that make valid manifests fail or, worse, make kubeconform
// skip validation silently: every schema must compile (kubeconform treats a schema that does
// not compile as "could not find schema"), quantities accept numbers, int-or-string is a type
// list, optional fields accept null, strictness (additionalProperties: false) is never applied
// where unknown fields are legal, and self-referencing types keep a local definitions section.
package schemas

import (
	"regexp"
	"sort"
	"strings"
)

// quantityPattern is resource.Quantity's serialisation (apimachinery's quantity grammar).
const quantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`

// Definition names in the Kubernetes OpenAPI spec that need a hand-written schema.
const (
	defQuantity    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	defIntOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	defObjectMeta  = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)

// keptFormats are the formats kubeconform's validator checks the way the API server does.
// Others (int32, byte, int-or-string, uri...) are dropped: the JSON-schema meaning differs from
// Kubernetes' and would reject valid manifests.
var keptFormats = map[string]bool{"date-time": true, "duration": true}

// copiedKeywords are value validations copied as they are.
var copiedKeywords = []string{
	"minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
	"multipleOf", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
}

// converter turns OpenAPI (v2 definitions or a CRD's v3 structural schema) into draft-4 JSON
// schema nodes. It inlines $refs, except for types that refer back to themselves, which go to
// a local definitions section.
type converter struct {
	defs   map[string]any // OpenAPI definitions by name ($ref targets)
	strict bool           // add additionalProperties: false to objects with properties
	stack  map[string]bool
	needed map[string]bool // recursive definitions referenced from the schema being built
}

// nodeOpts describe where a node sits.
type nodeOpts struct {
	nullable bool // an optional field: null is accepted (the API server drops it)
	inBranch bool // inside oneOf/anyOf/allOf/not: no strictness, no null, only value checks
}

func newConverter(defs map[string]any, strict bool) *converter {
	return &converter{defs: defs, strict: strict, stack: map[string]bool{}, needed: map[string]bool{}}
}

// root converts a top-level schema and appends the definitions it needs.
func (c *converter) root(s map[string]any) map[string]any {
	c.needed = map[string]bool{}
	out := c.node(s, nodeOpts{})
	done := map[string]bool{}
	defs := map[string]any{}
	for {
		var todo []string
		for n := range c.needed {
			if !done[n] {
				todo = append(todo, n)
			}
		}
		if len(todo) == 0 {
			break
		}
		sort.Strings(todo)
		for _, n := range todo {
			done[n] = true
			c.stack[n] = true
			// Definitions are reached through a bare $ref that cannot carry null, so they accept null.
			defs[n] = c.node(asMap(c.defs[n]), nodeOpts{nullable: true})
			delete(c.stack, n)
		}
	}
	if len(defs) > 0 {
		out["definitions"] = defs
	}
	return out
}

func (c *converter) node(s map[string]any, o nodeOpts) map[string]any {
	if ref, ok := s["$ref"].(string); ok {
		return c.ref(ref, o)
	}
	out := map[string]any{}
	var types []any
	if t, ok := s["type"].(string); ok && t != "" {
		types = append(types, t)
	}
	intOrString := s["x-kubernetes-int-or-string"] == true || s["format"] == "int-or-string"
	if intOrString {
		types = []any{"integer", "string"}
	}
	nullable := (o.nullable || s["nullable"] == true) && !o.inBranch
	preserve := s["x-kubernetes-preserve-unknown-fields"] == true
	embedded := s["x-kubernetes-embedded-resource"] == true

	if len(types) > 0 {
		if nullable {
			types = append(types, "null")
		}
		if len(types) == 1 {
			out["type"] = types[0]
		} else {
			out["type"] = types
		}
	}
	if f, ok := s["format"].(string); ok && keptFormats[f] {
		out["format"] = f
	}
	if p, ok := s["pattern"].(string); ok {
		// The API server uses ECMA-262 patterns; one Go's RE2 cannot compile would make the
		// whole schema fail to compile, and kubeconform would then skip the resource.
		if _, err := regexp.Compile(p); err == nil {
			out["pattern"] = p
		}
	}
	for _, k := range copiedKeywords {
		if v, ok := s[k]; ok {
			out[k] = v
		}
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		enum := append([]any{}, e...)
		if nullable && !containsNil(enum) {
			enum = append(enum, nil)
		}
		out["enum"] = enum
	}

	props := asMap(s["properties"])
	if len(props) > 0 {
		required := map[string]bool{}
		var req []any
		for _, r := range asSlice(s["required"]) {
			if name, ok := r.(string); ok && !required[name] {
				required[name] = true
				req = append(req, name)
			}
		}
		outProps := make(map[string]any, len(props))
		for name, p := range props {
			outProps[name] = c.node(asMap(p), nodeOpts{nullable: !required[name], inBranch: o.inBranch})
		}
		out["properties"] = outProps
		if len(req) > 0 { // never `required: []`: draft 4 rejects it and the schema would not compile
			out["required"] = req
		}
	} else if req := asSlice(s["required"]); len(req) > 0 {
		out["required"] = append([]any{}, req...) // a branch like anyOf: [{required: [a]}]
	}

	switch ap := s["additionalProperties"].(type) {
	case bool:
		out["additionalProperties"] = ap
	case map[string]any:
		// Map values: nulls are legal in practice (`annotations: {a: }`).
		out["additionalProperties"] = c.node(ap, nodeOpts{nullable: true, inBranch: o.inBranch})
	default:
		if c.strict && len(props) > 0 && !preserve && !embedded && !o.inBranch {
			out["additionalProperties"] = false
		}
	}

	switch it := s["items"].(type) {
	case map[string]any:
		out["items"] = c.node(it, nodeOpts{inBranch: o.inBranch})
	case []any:
		items := make([]any, 0, len(it))
		for _, e := range it {
			items = append(items, c.node(asMap(e), nodeOpts{inBranch: o.inBranch}))
		}
		out["items"] = items
	}

	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		if br := asSlice(s[k]); len(br) > 0 {
			var list []any
			for _, b := range br {
				list = append(list, c.node(asMap(b), nodeOpts{inBranch: true}))
			}
			out[k] = list
		}
	}
	if n, ok := s["not"].(map[string]any); ok {
		out["not"] = c.node(n, nodeOpts{inBranch: true})
	}
	return out
}

func (c *converter) ref(ref string, o nodeOpts) map[string]any {
	name := strings.TrimPrefix(ref, "#/definitions/")
	nullable := o.nullable && !o.inBranch
	switch name {
	case defQuantity:
		// Declared as a string, but `memory: 256000` and `cpu: 0.5` are valid manifests.
		t := []any{"string", "number"}
		if nullable {
			t = append(t, "null")
		}
		return map[string]any{"type": t, "pattern": quantityPattern}
	case defIntOrString:
		// A type list, not oneOf: kubeconform's errors for oneOf are unreadable.
		t := []any{"integer", "string"}
		if nullable {
			t = append(t, "null")
		}
		return map[string]any{"type": t}
	}
	def, ok := c.defs[name]
	if !ok {
		return map[string]any{} // unknown reference: accept anything rather than fail to compile
	}
	if c.stack[name] {
		c.needed[name] = true
		return map[string]any{"$ref": "#/definitions/" + name}
	}
	c.stack[name] = true
	defer delete(c.stack, name)
	return c.node(asMap(def), o)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func containsNil(s []any) bool {
	for _, v := range s {
		if v == nil {
			return true
		}
	}
	return false
}
