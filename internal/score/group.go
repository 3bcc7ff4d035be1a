package score

import (
	"fmt"
	"slices"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tollgate-dev/tollgate/internal/manifest"
)

// splitMin is the fewest documents worth spreading over several kube-score processes: each
// process costs a few milliseconds to start, about what kube-score spends on 20 documents.
const splitMin = 48

// split divides the documents of one kube-score run into at most n sets that kube-score scores
// apart with the same results (see groups), balanced by size, each in the documents' order.
// kube-score is single-threaded; on a tree of many small manifests, n processes on n cores
// finish in about 1/n of the time.
func split(docs []manifest.Document, n int) [][]manifest.Document {
	if n < 2 || len(docs) < splitMin {
		return [][]manifest.Document{docs}
	}
	comps := groups(docs)
	n = min(n, len(comps), len(docs)/(splitMin/2))
	if n < 2 {
		return [][]manifest.Document{docs}
	}
	weights := make([]int, len(comps))
	for k, c := range comps {
		for _, i := range c {
			weights[k] += len(docs[i].Raw) + 256 // kube-score's work grows with the text; each object costs too
		}
	}
	// Largest set first, each to the lightest bin: within 4/3 of the best balance.
	order := make([]int, len(comps))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool { return weights[order[a]] > weights[order[b]] })
	bins := make([][]int, n)
	load := make([]int, n)
	for _, k := range order {
		b := 0
		for j := range load {
			if load[j] < load[b] {
				b = j
			}
		}
		bins[b] = append(bins[b], comps[k]...)
		load[b] += weights[k]
	}
	out := make([][]manifest.Document, 0, n)
	for _, b := range bins {
		slices.Sort(b)
		part := make([]manifest.Document, len(b))
		for k, i := range b {
			part[k] = docs[i]
		}
		out = append(out, part)
	}
	return out
}

// groupsReviewedFor is the kube-score version whose checks groups was written against: another
// pin needs its score/*.Register functions read again (TestGroupsReviewedForThePin).
const groupsReviewedFor = "v1.20.0"

// groups partitions documents (by index, each group in order, groups in the order of their
// first document) so that no check of kube-score v1.20.0 relates two documents of different
// groups. The checks that look at other objects (score/*.Register) relate them only through
//   - label selectors: a Service's spec.selector, a NetworkPolicy's spec.podSelector and a
//     PodDisruptionBudget's spec.selector, matched against the labels of pods and pod templates;
//   - names: a HorizontalPodAutoscaler's scaleTargetRef, a StatefulSet's serviceName, an
//     Ingress's backend Services.
//
// The relation built here is coarser than kube-score's, never finer. Namespaces are the
// objects' own (metadata.namespace, "" when unset): kube-score gives every pod template its
// object's namespace (parser/internal/*.GetPodTemplateSpec). A selector joins the documents of
// its namespace that have a label (or, for `Exists`, a key) it names, in any labels map; a
// PodDisruptionBudget's does in every namespace, since kube-score reports budgets that match
// in another one. A selector that can match without a shared label (empty, or only
// NotIn/DoesNotExist) joins every document of its namespace; a PodDisruptionBudget's joins
// every document, and so does one kube-score cannot build (it then fails every budget check).
// A reference by name joins the objects of that name in the referring object's namespace.
func groups(docs []manifest.Document) [][]int {
	g := &unionFind{tokens: map[string]int{}}
	g.parent = make([]int, len(docs))
	for i := range g.parent {
		g.parent[i] = i
	}
	rels := make([]relations, len(docs))
	wildNS := map[string]bool{}
	needed := map[string]bool{} // the label, key and name tokens some document refers to
	global := -1
	join := func(i int, t string) {
		needed[t] = true
		g.union(i, g.token(t))
	}
	for i, d := range docs {
		r := relationsOf(d)
		rels[i] = r
		switch r.wildcard {
		case wildGlobal:
			if global >= 0 {
				g.union(global, i)
			}
			global = i
		case wildNamespace:
			wildNS[r.namespace] = true
			g.union(i, g.token("ns\x00"+r.namespace))
		}
		for _, k := range r.keys {
			join(i, "key\x00"+r.scope+"\x00"+k)
		}
		for _, t := range r.selects {
			join(i, "label\x00"+r.scope+"\x00"+t)
		}
		for _, n := range r.refs {
			join(i, "name\x00"+r.namespace+"\x00"+n)
		}
	}
	for i, r := range rels {
		if global >= 0 {
			g.union(global, i)
		}
		scopes := []string{anyNamespace, r.namespace}
		if wildNS[r.namespace] {
			g.union(i, g.token("ns\x00"+r.namespace))
		}
		for _, l := range r.labels {
			for _, sc := range scopes {
				for _, t := range []string{"label\x00" + sc + "\x00" + l.key + "=" + l.value, "key\x00" + sc + "\x00" + l.key} {
					if needed[t] { // labels no selector names join nothing
						g.union(i, g.token(t))
					}
				}
			}
		}
		if t := "name\x00" + r.namespace + "\x00" + r.name; needed[t] {
			g.union(i, g.token(t))
		}
	}
	var out [][]int
	at := map[int]int{}
	for i := range docs {
		root := g.find(i)
		k, ok := at[root]
		if !ok {
			k = len(out)
			at[root] = k
			out = append(out, nil)
		}
		out[k] = append(out[k], i)
	}
	return out
}

// Wildcards: how far a selector that matches without a shared label reaches.
const (
	wildNone = iota
	wildNamespace
	wildGlobal
)

type label struct{ key, value string }

// anyNamespace is the scope of a selector that matches in every namespace; namespaces are
// never this (a NUL is not a valid name).
const anyNamespace = "\x00*"

// relations is what groups needs of one document.
type relations struct {
	name      string   // metadata.name
	namespace string   // metadata.namespace
	labels    []label  // every labels map in the object (its own, its pod template's...)
	selects   []string // key=value pairs a match must share
	keys      []string // label keys a match must have (Exists)
	scope     string   // the namespace selects and keys match in, or anyNamespace
	wildcard  int
	refs      []string // names of objects it refers to
}

func relationsOf(d manifest.Document) relations {
	var r relations
	md, _ := d.Object["metadata"].(map[string]any)
	r.name, _ = md["name"].(string)
	r.namespace, _ = md["namespace"].(string)
	r.scope = r.namespace
	collect(d.Object, &r)
	spec, _ := d.Object["spec"].(map[string]any)
	switch d.Kind {
	case "Service":
		// Even an ExternalName Service: only service-targets-pod passes over those; the
		// probe and Deployment checks match its selector all the same.
		sel, _ := spec["selector"].(map[string]any)
		for k, v := range sel {
			r.selects = append(r.selects, k+"="+scalar(v))
		}
		if len(r.selects) == 0 {
			r.wildcard = wildNamespace
		}
	case "NetworkPolicy":
		r.selects, r.keys, r.wildcard = selectorRelations(spec["podSelector"], wildNamespace)
	case "PodDisruptionBudget":
		r.scope = anyNamespace
		r.selects, r.keys, r.wildcard = selectorRelations(spec["selector"], wildGlobal)
		if r.wildcard == wildNone && !validSelector(spec["selector"]) {
			r.wildcard = wildGlobal
		}
	case "HorizontalPodAutoscaler":
		ref, _ := spec["scaleTargetRef"].(map[string]any)
		if n, ok := ref["name"].(string); ok {
			r.refs = append(r.refs, n)
		}
	case "StatefulSet":
		if n, ok := spec["serviceName"].(string); ok {
			r.refs = append(r.refs, n)
		}
	case "Ingress":
		allStrings(spec, &r.refs) // every backend, whatever the API version calls it
	}
	return r
}

// collect gathers every labels map in v.
func collect(v any, r *relations) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if m, ok := e.(map[string]any); ok && k == "labels" {
				for lk, lv := range m {
					r.labels = append(r.labels, label{lk, scalar(lv)})
				}
			}
			collect(e, r)
		}
	case []any:
		for _, e := range t {
			collect(e, r)
		}
	}
}

// allStrings appends every string in v to out.
func allStrings(v any, out *[]string) {
	switch t := v.(type) {
	case string:
		*out = append(*out, t)
	case map[string]any:
		for _, e := range t {
			allStrings(e, out)
		}
	case []any:
		for _, e := range t {
			allStrings(e, out)
		}
	}
}

// selectorRelations reads a metav1.LabelSelector: the pairs and keys any object it matches must
// have, or wild when it can match without them.
func selectorRelations(v any, wild int) (selects, keys []string, wildcard int) {
	sel, ok := v.(map[string]any)
	if !ok {
		return nil, nil, wild // absent or not an object: assume the widest match
	}
	ml, _ := sel["matchLabels"].(map[string]any)
	for k, v := range ml {
		selects = append(selects, k+"="+scalar(v))
	}
	exprs, _ := sel["matchExpressions"].([]any)
	for _, e := range exprs {
		m, _ := e.(map[string]any)
		key, _ := m["key"].(string)
		op, _ := m["operator"].(string)
		switch op {
		case "In":
			vals, _ := m["values"].([]any)
			for _, v := range vals {
				selects = append(selects, key+"="+scalar(v))
			}
		case "Exists":
			keys = append(keys, key)
		}
	}
	if len(selects) == 0 && len(keys) == 0 {
		return nil, nil, wild
	}
	return selects, keys, wildNone
}

// validSelector reports whether kube-score can build a selector from v (it fails every
// Deployment's and StatefulSet's budget check when a PodDisruptionBudget's is invalid).
func validSelector(v any) bool {
	sel, ok := v.(map[string]any)
	if !ok {
		return false
	}
	var ls metav1.LabelSelector
	if ml, ok := sel["matchLabels"].(map[string]any); ok {
		ls.MatchLabels = map[string]string{}
		for k, v := range ml {
			s, ok := v.(string)
			if !ok {
				return false
			}
			ls.MatchLabels[k] = s
		}
	}
	exprs, _ := sel["matchExpressions"].([]any)
	for _, e := range exprs {
		m, _ := e.(map[string]any)
		key, _ := m["key"].(string)
		op, _ := m["operator"].(string)
		req := metav1.LabelSelectorRequirement{Key: key, Operator: metav1.LabelSelectorOperator(op)}
		vals, _ := m["values"].([]any)
		for _, v := range vals {
			s, ok := v.(string)
			if !ok {
				return false
			}
			req.Values = append(req.Values, s)
		}
		ls.MatchExpressions = append(ls.MatchExpressions, req)
	}
	_, err := metav1.LabelSelectorAsSelector(&ls)
	return err == nil
}

// scalar is a label value as text; a value of another type never matches anything in
// kube-score (it cannot decode the object), so any stable spelling will do.
func scalar(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// unionFind joins documents and the tokens (labels, names, namespaces) they share.
type unionFind struct {
	parent []int
	tokens map[string]int
}

func (u *unionFind) token(t string) int {
	if i, ok := u.tokens[t]; ok {
		return i
	}
	i := len(u.parent)
	u.parent = append(u.parent, i)
	u.tokens[t] = i
	return i
}

func (u *unionFind) find(i int) int {
	for u.parent[i] != i {
		u.parent[i] = u.parent[u.parent[i]]
		i = u.parent[i]
	}
	return u.parent[i]
}

func (u *unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		u.parent[ra] = rb
	}
}
