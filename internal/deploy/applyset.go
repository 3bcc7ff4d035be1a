package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// ApplySet labels and annotations (KEP-3659, the format kubectl's --applyset uses), so other
// ApplySet-aware tools can see which objects a Tollgate deploy owns.
const (
	labelPartOf         = "applyset.kubernetes.io/part-of"
	labelID             = "applyset.kubernetes.io/id"
	annotationTooling   = "applyset.kubernetes.io/tooling"
	annotationKinds     = "applyset.kubernetes.io/contains-group-kinds"
	annotationNamespace = "applyset.kubernetes.io/additional-namespaces"
	toolingName         = "tollgate"
)

// applySetID is the ApplySet ID of a parent object: "applyset-" + unpadded URL-safe base64 of
// the SHA-256 of "<name>.<namespace>.<kind>.<group>" + "-v1" (KEP-3659). Tollgate's parents are
// ConfigMaps (parentID).
func applySetID(name, namespace, kind, group string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{name, namespace, kind, group}, ".")))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

func parentID(name, namespace string) string { return applySetID(name, namespace, "ConfigMap", "") }

// applySet is the parent's state before this deploy.
type applySet struct {
	name, namespace, id string
	kinds               map[schema.GroupKind]bool // contains-group-kinds recorded so far
	namespaces          map[string]bool           // the parent's namespace and additional-namespaces
}

var parentGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// loadApplySet reads the parent ConfigMap, if any. One that another tool manages (or that is no
// ApplySet parent at all) is refused: pruning with it could delete that tool's objects.
func (d *Deployer) loadApplySet(ctx context.Context) (*applySet, error) {
	s := &applySet{name: d.Options.ApplySet, namespace: d.Cluster.Namespace, id: parentID(d.Options.ApplySet, d.Cluster.Namespace),
		kinds: map[schema.GroupKind]bool{}, namespaces: map[string]bool{d.Cluster.Namespace: true}}
	cur, err := d.dyn.Resource(parentGVR).Namespace(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return s, nil
	case err != nil:
		return nil, d.toolError("read ApplySet parent ConfigMap %s/%s: %v", s.namespace, s.name, err)
	}
	tooling := cur.GetAnnotations()[annotationTooling]
	if cur.GetLabels()[labelID] != s.id || !strings.HasPrefix(tooling, toolingName+"/") {
		return nil, &model.InputError{Err: fmt.Errorf("deploy.applyset: ConfigMap %s/%s exists and is not a Tollgate ApplySet parent (id %q, tooling %q); choose another deploy.applyset name",
			s.namespace, s.name, cur.GetLabels()[labelID], tooling)}
	}
	for _, gk := range splitList(cur.GetAnnotations()[annotationKinds]) {
		s.kinds[schema.ParseGroupKind(gk)] = true
	}
	for _, ns := range splitList(cur.GetAnnotations()[annotationNamespace]) {
		s.namespaces[ns] = true
	}
	return s, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// members returns the group kinds and namespaces of the objects being deployed.
func members(objs []*object) (map[schema.GroupKind]bool, map[string]bool) {
	kinds, nss := map[schema.GroupKind]bool{}, map[string]bool{}
	for _, o := range objs {
		kinds[o.gvk.GroupKind()] = true
		if ns := o.obj.GetNamespace(); ns != "" {
			nss[ns] = true
		}
	}
	return kinds, nss
}

// updateParent writes the parent ConfigMap. Before applying (union true) it records the union
// of the old and new group kinds and namespaces, so an interrupted deploy leaves every member
// findable; after pruning it records exactly the new ones.
func (d *Deployer) updateParent(ctx context.Context, s *applySet, objs []*object, union bool) error {
	kinds, nss := members(objs)
	if union {
		for k := range s.kinds {
			kinds[k] = true
		}
		for n := range s.namespaces {
			nss[n] = true
		}
	}
	var gks, extra []string
	for k := range kinds {
		gks = append(gks, k.String())
	}
	for n := range nss {
		if n != s.namespace {
			extra = append(extra, n)
		}
	}
	sort.Strings(gks)
	sort.Strings(extra)
	parent := &unstructured.Unstructured{}
	parent.SetAPIVersion("v1")
	parent.SetKind("ConfigMap")
	parent.SetName(s.name)
	parent.SetNamespace(s.namespace)
	parent.SetLabels(map[string]string{labelID: s.id})
	parent.SetAnnotations(map[string]string{
		annotationTooling:   toolingName + "/v" + model.Version,
		annotationKinds:     strings.Join(gks, ","),
		annotationNamespace: strings.Join(extra, ","),
	})
	if _, err := d.dyn.Resource(parentGVR).Namespace(s.namespace).Apply(ctx, s.name, parent, metav1.ApplyOptions{FieldManager: FieldManager}); err != nil {
		return d.toolError("write ApplySet parent ConfigMap %s/%s: %v", s.namespace, s.name, err)
	}
	return nil
}

// prune deletes (or, in a dry-run, reports) the objects labelled as members of this ApplySet
// that the manifests no longer hold. It lists only by the part-of label with this ApplySet's ID,
// in the group kinds and namespaces the parent recorded, so objects Tollgate did not apply are
// never touched.
func (d *Deployer) prune(ctx context.Context, s *applySet, objs []*object, res *model.StageResult) error {
	keep := map[string]bool{}
	for _, o := range objs {
		keep[objectKey(o.gvk.GroupKind(), o.obj.GetNamespace(), o.obj.GetName())] = true
	}
	kinds, nss := members(objs)
	for k := range s.kinds {
		kinds[k] = true
	}
	for n := range s.namespaces {
		nss[n] = true
	}
	var gks []schema.GroupKind
	for k := range kinds {
		gks = append(gks, k)
	}
	sort.Slice(gks, func(i, j int) bool { return gks[i].String() < gks[j].String() })
	var namespaces []string
	for n := range nss {
		namespaces = append(namespaces, n)
	}
	sort.Strings(namespaces)
	selector := labelPartOf + "=" + s.id
	for _, gk := range gks {
		m, err := d.mapper.RESTMapping(gk)
		if meta.IsNoMatchError(err) {
			continue // the kind is gone from the server (a deleted CRD): nothing left to prune
		}
		if err != nil {
			return d.toolError("prune: map %s: %v", gk, err)
		}
		scopes := []string{""}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			scopes = namespaces
		}
		for _, ns := range scopes {
			list, err := d.dyn.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return d.toolError("prune: list %s in %q: %v", gk, ns, err)
			}
			for _, item := range list.Items {
				if keep[objectKey(gk, item.GetNamespace(), item.GetName())] || item.GetDeletionTimestamp() != nil {
					continue
				}
				res2 := gk.Kind + "/" + item.GetName()
				if item.GetNamespace() != "" {
					res2 = gk.Kind + "/" + item.GetNamespace() + "/" + item.GetName()
				}
				verb := "would prune"
				if !d.Options.DryRun {
					verb = "pruned"
					prop := metav1.DeletePropagationBackground
					err := d.dyn.Resource(m.Resource).Namespace(item.GetNamespace()).Delete(ctx, item.GetName(),
						metav1.DeleteOptions{PropagationPolicy: &prop, Preconditions: &metav1.Preconditions{UID: ptr(item.GetUID())}})
					if err != nil && !apierrors.IsNotFound(err) {
						return d.toolError("prune %s: %v", res2, err)
					}
				}
				d.record.Pruned = append(d.record.Pruned, res2)
				d.progressf("%s %s", verb, res2)
				res.Findings = append(res.Findings, model.Finding{Stage: Name, RuleID: RulePruned, Severity: ruleSeverity(RulePruned),
					Title:    "pruned",
					Message:  fmt.Sprintf("%s %s: ApplySet %s applied it before and the manifests no longer hold it", verb, res2, s.name),
					Location: model.Location{Resource: res2}})
			}
		}
	}
	d.record.ApplySet = s.namespace + "/" + s.name
	return nil
}

func objectKey(gk schema.GroupKind, ns, name string) string {
	return gk.String() + "/" + ns + "/" + name
}

func ptr[T any](v T) *T { return &v }
