package deploy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// containerLists are the fields of a pod spec that hold containers.
var containerLists = [...]string{"initContainers", "containers", "ephemeralContainers"}

// podSpecs returns the pod specs inside an object: a Pod's spec, a PodTemplate's template, the
// template of every workload (Deployment, StatefulSet, DaemonSet, ReplicaSet,
// ReplicationController, Job, and custom resources shaped like them) and a CronJob's job template.
func podSpecs(obj map[string]any) []map[string]any {
	var out []map[string]any
	add := func(path ...string) {
		if m, ok := nested(obj, path...); ok {
			out = append(out, m)
		}
	}
	switch obj["kind"] {
	case "Pod":
		add("spec")
	case "PodTemplate":
		add("template", "spec")
	default:
		add("spec", "template", "spec")
		add("spec", "jobTemplate", "spec", "template", "spec")
	}
	return out
}

func nested(m map[string]any, path ...string) (map[string]any, bool) {
	cur := m
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// Image is one container image reference in an object.
type Image struct {
	Container string // container name
	Field     string // initContainers, containers, ephemeralContainers
	Ref       string
}

// Images lists the container images of an object, in spec order.
func Images(obj map[string]any) []Image {
	var out []Image
	for _, spec := range podSpecs(obj) {
		for _, field := range containerLists {
			list, _ := spec[field].([]any)
			for _, c := range list {
				cm, ok := c.(map[string]any)
				if !ok {
					continue
				}
				if ref, ok := cm["image"].(string); ok && ref != "" {
					n, _ := cm["name"].(string)
					out = append(out, Image{Container: n, Field: field, Ref: ref})
				}
			}
		}
	}
	return out
}

// Pinning maps image references to the digest the pipeline pushed.
type Pinning struct {
	repo   string // normalised repository of the pushed image
	pinned string // repo@sha256:...
}

// NewPinning reads the pushed reference ("repo@sha256:..."); a reference without a digest is an
// error, because pinning to a tag would pin nothing.
func NewPinning(published string) (*Pinning, error) {
	d, err := name.NewDigest(published)
	if err != nil {
		return nil, fmt.Errorf("pushed image %q is not a repo@sha256:... reference: %w", published, err)
	}
	return &Pinning{repo: d.Context().Name(), pinned: published}, nil
}

// Pin returns the pinned reference for ref when it names the pushed repository (with any tag or
// digest), and ok false otherwise or when ref is already exactly the pushed reference.
func (p *Pinning) Pin(ref string) (string, bool) {
	if p == nil {
		return "", false
	}
	r, err := name.ParseReference(ref)
	if err != nil || r.Context().Name() != p.repo || ref == p.pinned {
		return "", false
	}
	return p.pinned, true
}

// PinImages rewrites the object's container images that Pin maps, in place, and returns
// "old -> new" for each rewrite.
func PinImages(obj map[string]any, p *Pinning) []string {
	if p == nil {
		return nil
	}
	var changes []string
	for _, spec := range podSpecs(obj) {
		for _, field := range containerLists {
			list, _ := spec[field].([]any)
			for _, c := range list {
				cm, ok := c.(map[string]any)
				if !ok {
					continue
				}
				ref, _ := cm["image"].(string)
				if to, ok := p.Pin(ref); ok {
					cm["image"] = to
					changes = append(changes, ref+" -> "+to)
				}
			}
		}
	}
	return changes
}

// uniqueRefs returns the distinct image references of the objects, sorted.
func uniqueRefs(objs []*object) []string {
	seen := map[string]bool{}
	for _, o := range objs {
		for _, im := range Images(o.obj.Object) {
			seen[strings.TrimSpace(im.Ref)] = true
		}
	}
	refs := make([]string, 0, len(seen))
	for r := range seen {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	return refs
}
