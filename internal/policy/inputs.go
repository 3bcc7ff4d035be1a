package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// InputName is the file gator reads: every template, constraint and manifest as a stream of JSON
// objects, one per line (gator's reader takes a JSON stream as well as YAML).
const InputName = "gator-input.json"

// Gatekeeper's enforcement points: admission (the webhook) and gator.
const (
	webhookEnforcementPoint = "validation.gatekeeper.sh"
	gatorEnforcementPoint   = "gator.gatekeeper.sh"
)

// Batch is one gator run's input, with the way back from what gator reports to the user's files.
type Batch struct {
	// Input is the content of InputName.
	Input []byte
	// Objects counts the documents in Input.
	Objects int

	docs        []manifest.Document       // the manifests, as loaded
	prepared    [][]byte                  // JSON of each manifest as gator sees it
	byKey       map[string][]int          // apiVersion/kind/namespace/name -> manifest indexes
	constraints map[string]constraintInfo // Kind/name -> constraint
	templates   map[string]Template       // constraint kind -> template
	namespaces  namespacer
}

type constraintInfo struct {
	Constraint
	severity model.Severity
}

// NewBatch prepares the policy set and the manifests for gator. Documents without a namespace
// get the default one when their kind is namespaced, as `kubectl apply` would place them, so
// namespace matching and referential policies see where they really land. Scoped enforcement
// actions for admission (validation.gatekeeper.sh) are given to gator too, so gator judges as
// the admission webhook would.
func NewBatch(o Options, s *Set, docs []manifest.Document) (*Batch, error) {
	b := &Batch{
		docs:        docs,
		byKey:       map[string][]int{},
		constraints: map[string]constraintInfo{},
		templates:   map[string]Template{},
		namespaces:  newNamespacer(o.DefaultNamespace, docs),
	}
	var buf bytes.Buffer
	write := func(d manifest.Document, obj map[string]any) ([]byte, error) {
		j, err := json.Marshal(jsonable(obj))
		if err != nil {
			return nil, model.InputErrorf(d.File, d.Line, "%s: cannot encode as JSON for gator: %v", d.Resource(), err)
		}
		buf.Write(j)
		buf.WriteByte('\n')
		b.Objects++
		return j, nil
	}
	for _, t := range s.Templates {
		b.templates[t.Kind] = t
		if _, err := write(t.Doc, t.Doc.Object); err != nil {
			return nil, err
		}
	}
	for _, c := range s.Constraints {
		b.constraints[c.ID()] = constraintInfo{Constraint: c, severity: o.severity(c.Name)}
		if _, err := write(c.Doc, forGator(c.Doc.Object)); err != nil {
			return nil, err
		}
	}
	b.prepared = make([][]byte, len(docs))
	for i, d := range docs {
		if isTemplate(d) || isConstraint(d) {
			continue // already written, as policy
		}
		obj := d.Object
		ns := b.namespaces.of(d)
		if ns != d.Namespace {
			obj = deepCopy(obj).(map[string]any)
			md, _ := obj["metadata"].(map[string]any)
			if md == nil {
				md = map[string]any{}
				obj["metadata"] = md
			}
			md["namespace"] = ns
		}
		j, err := write(d, obj)
		if err != nil {
			return nil, err
		}
		b.prepared[i] = j
		key := objectKey(d.APIVersion, d.Kind, ns, d.Name)
		b.byKey[key] = append(b.byKey[key], i)
	}
	b.Input = buf.Bytes()
	return b, nil
}

func objectKey(apiVersion, kind, ns, name string) string {
	return apiVersion + "/" + kind + "/" + ns + "/" + name
}

// forGator adds gator's enforcement point to scoped actions that name the admission webhook, unless
// the constraint names gator's point itself.
func forGator(obj map[string]any) map[string]any {
	if a, _ := enforcementAction(obj); a != actionScoped {
		return obj
	}
	scoped, _ := nested(obj, "spec", "scopedEnforcementActions").([]any)
	for _, s := range scoped {
		for _, ep := range endpoints(s) {
			if ep == gatorEnforcementPoint {
				return obj
			}
		}
	}
	obj = deepCopy(obj).(map[string]any)
	scoped, _ = nested(obj, "spec", "scopedEnforcementActions").([]any)
	for _, s := range scoped {
		sm, _ := s.(map[string]any)
		for _, ep := range endpoints(s) {
			if ep == webhookEnforcementPoint {
				eps, _ := sm["enforcementPoints"].([]any)
				sm["enforcementPoints"] = append(eps, map[string]any{"name": gatorEnforcementPoint})
				break
			}
		}
	}
	return obj
}

func endpoints(scoped any) []string {
	sm, _ := scoped.(map[string]any)
	eps, _ := sm["enforcementPoints"].([]any)
	var out []string
	for _, e := range eps {
		em, _ := e.(map[string]any)
		if n, ok := em["name"].(string); ok {
			out = append(out, n)
		}
	}
	return out
}

// jsonable turns YAML-decoded values JSON can encode (yaml.v3 decodes a mapping with a non-string
// key into map[any]any).
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonable(e)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = jsonable(e)
		}
		return l
	}
	return v
}

// lookup finds the manifest gator reported on. Several documents may share a kind, namespace and
// name (two overlays in one set); then the one whose content gator echoed wins.
func (b *Batch) lookup(obj map[string]any) (int, bool) {
	md, _ := obj["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	av, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	cands := b.byKey[objectKey(av, kind, ns, name)]
	switch len(cands) {
	case 0:
		return 0, false
	case 1:
		return cands[0], true
	}
	got, err := canonicalJSON(obj)
	if err != nil {
		return 0, false
	}
	for _, i := range cands {
		var v any
		if json.Unmarshal(b.prepared[i], &v) != nil {
			continue
		}
		if want, err := canonicalJSON(v); err == nil && bytes.Equal(want, got) {
			return i, true
		}
	}
	return 0, false
}

func canonicalJSON(v any) ([]byte, error) { return json.Marshal(v) }

// namespacer knows which kinds are cluster-scoped, to give the others the default namespace.
type namespacer struct {
	def     string
	crdKind map[string]bool // group/kind -> namespaced, from CRDs among the inputs
}

func newNamespacer(def string, docs []manifest.Document) namespacer {
	n := namespacer{def: def, crdKind: map[string]bool{}}
	for _, d := range docs {
		if d.Kind != "CustomResourceDefinition" || d.Group() != "apiextensions.k8s.io" {
			continue
		}
		group, _ := nested(d.Object, "spec", "group").(string)
		kind, _ := nested(d.Object, "spec", "names", "kind").(string)
		scope, _ := nested(d.Object, "spec", "scope").(string)
		if kind != "" {
			n.crdKind[group+"/"+kind] = scope != "Cluster"
		}
	}
	return n
}

// of is the namespace a document lands in: its own; the default one for a namespaced kind;
// "" for a cluster-scoped kind, or a custom kind no CRD among the inputs describes.
func (n namespacer) of(d manifest.Document) string {
	if d.Namespace != "" {
		return d.Namespace
	}
	gk := d.Group() + "/" + d.Kind
	if namespaced, ok := n.crdKind[gk]; ok {
		if namespaced {
			return n.def
		}
		return ""
	}
	if !builtinGroups[d.Group()] || clusterScoped[gk] || d.Group() == constraintGroup || strings.HasSuffix(d.Kind, "List") {
		return ""
	}
	return n.def
}

// builtinGroups are the API groups of Kubernetes itself, whose scopes Tollgate knows.
var builtinGroups = map[string]bool{
	"": true, "apps": true, "batch": true, "autoscaling": true, "policy": true, "extensions": true,
	"networking.k8s.io": true, "rbac.authorization.k8s.io": true, "storage.k8s.io": true,
	"scheduling.k8s.io": true, "node.k8s.io": true, "apiextensions.k8s.io": true,
	"apiregistration.k8s.io": true, "admissionregistration.k8s.io": true, "certificates.k8s.io": true,
	"coordination.k8s.io": true, "discovery.k8s.io": true, "events.k8s.io": true,
	"flowcontrol.apiserver.k8s.io": true, "resource.k8s.io": true, "storagemigration.k8s.io": true,
	"internal.apiserver.k8s.io": true,
	// Gatekeeper's templates and constraints are cluster-scoped.
	templateGroup: true, constraintGroup: true,
}

// clusterScoped are the cluster-scoped kinds of the built-in groups (group/kind).
var clusterScoped = map[string]bool{
	"/Namespace": true, "/Node": true, "/PersistentVolume": true, "/ComponentStatus": true,
	"rbac.authorization.k8s.io/ClusterRole": true, "rbac.authorization.k8s.io/ClusterRoleBinding": true,
	"storage.k8s.io/StorageClass": true, "storage.k8s.io/CSIDriver": true, "storage.k8s.io/CSINode": true,
	"storage.k8s.io/VolumeAttachment": true, "storage.k8s.io/VolumeAttributesClass": true,
	"scheduling.k8s.io/PriorityClass": true, "node.k8s.io/RuntimeClass": true,
	"networking.k8s.io/IngressClass": true, "networking.k8s.io/IPAddress": true, "networking.k8s.io/ServiceCIDR": true,
	"apiextensions.k8s.io/CustomResourceDefinition": true, "apiregistration.k8s.io/APIService": true,
	"admissionregistration.k8s.io/MutatingWebhookConfiguration":     true,
	"admissionregistration.k8s.io/ValidatingWebhookConfiguration":   true,
	"admissionregistration.k8s.io/ValidatingAdmissionPolicy":        true,
	"admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding": true,
	"admissionregistration.k8s.io/MutatingAdmissionPolicy":          true,
	"admissionregistration.k8s.io/MutatingAdmissionPolicyBinding":   true,
	"certificates.k8s.io/CertificateSigningRequest":                 true,
	"certificates.k8s.io/ClusterTrustBundle":                        true,
	"flowcontrol.apiserver.k8s.io/FlowSchema":                       true,
	"flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration":       true,
	"resource.k8s.io/DeviceClass":                                   true,
	"resource.k8s.io/ResourceSlice":                                 true,
	"storagemigration.k8s.io/StorageVersionMigration":               true,
	"internal.apiserver.k8s.io/StorageVersion":                      true,
	templateGroup + "/ConstraintTemplate":                           true,
}
