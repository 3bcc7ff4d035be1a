package deploy

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tollgate-dev/tollgate/internal/manifest"
)

// object is one manifest document on its way to the server.
type object struct {
	doc manifest.Document
	obj *unstructured.Unstructured // a copy of the document, images pinned, labels added
	gvk schema.GroupVersionKind
	pos int // position in the input, the last tie-breaker of the order
	// existed says the object was stored before this deploy; unchanged that the dry-run found
	// applying it would store nothing new.
	existed, unchanged bool
	// action is what happened to it (see RecordObject.Action); rec its entry in the record.
	action string
	rec    int
}

// resource is Kind/namespace/name as the server sees it (the namespace filled in or cleared by
// the object's scope once it is known).
func (o *object) resource() string {
	if ns := o.obj.GetNamespace(); ns != "" {
		return o.gvk.Kind + "/" + ns + "/" + o.obj.GetName()
	}
	return o.gvk.Kind + "/" + o.obj.GetName()
}

// Kinds applied in a fixed order: what others depend on first (namespaces, CRDs, classes,
// quotas, identities and their permissions, configuration, storage, network rules, services),
// then workloads, then what refers to workloads. Kinds not listed (custom resources, admission
// configuration, API services) come last, so a new admission policy does not judge the very
// deploy that installs it halfway through.
var kindRank = map[string]int{
	"Namespace":                0,
	"CustomResourceDefinition": 1,
	"PriorityClass":            2, "StorageClass": 2, "IngressClass": 2, "RuntimeClass": 2,
	"ResourceQuota": 3, "LimitRange": 3,
	"ServiceAccount": 4,
	"ClusterRole":    5, "Role": 5,
	"ClusterRoleBinding": 6, "RoleBinding": 6,
	"Secret": 7, "ConfigMap": 7,
	"PersistentVolume": 8, "PersistentVolumeClaim": 9,
	"NetworkPolicy": 10,
	"Service":       11,
	"Pod":           12, "ReplicationController": 12, "ReplicaSet": 12, "Deployment": 12,
	"StatefulSet": 12, "DaemonSet": 12, "Job": 12, "CronJob": 12,
	"HorizontalPodAutoscaler": 13, "PodDisruptionBudget": 13,
	"Ingress": 14,
}

const lastRank = 20

func rank(kind string) int {
	if r, ok := kindRank[kind]; ok {
		return r
	}
	return lastRank
}

// sortObjects puts objects in apply order: by kind rank, then kind, namespace, name, and input
// position, so the same manifests always apply in the same order.
func sortObjects(objs []*object) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if ra, rb := rank(a.gvk.Kind), rank(b.gvk.Kind); ra != rb {
			return ra < rb
		}
		if a.gvk.Kind != b.gvk.Kind {
			return a.gvk.Kind < b.gvk.Kind
		}
		if a.gvk.Group != b.gvk.Group {
			return a.gvk.Group < b.gvk.Group
		}
		if a.obj.GetNamespace() != b.obj.GetNamespace() {
			return a.obj.GetNamespace() < b.obj.GetNamespace()
		}
		if a.obj.GetName() != b.obj.GetName() {
			return a.obj.GetName() < b.obj.GetName()
		}
		return a.pos < b.pos
	})
}

// isFoundation reports whether an object is applied before everything else can be judged:
// Namespaces and CustomResourceDefinitions.
func isFoundation(o *object) bool {
	return (o.gvk.Group == "" && o.gvk.Kind == "Namespace") ||
		(o.gvk.Group == "apiextensions.k8s.io" && o.gvk.Kind == "CustomResourceDefinition")
}
