package schemas

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Index describes a built schema dir: which kinds each kubeconform file serves.
type Index struct {
	// Generator is the converter's format version; a cached dir from another version is rebuilt.
	Generator         int              `json:"generator"`
	KubernetesVersion string           `json:"kubernetesVersion"`
	Files             map[string][]GVK `json:"files"`
	// Collisions lists files claimed by kinds of different groups with different schemas; the
	// first one wins, the others cannot be validated through the kubeconform layout.
	Collisions []string `json:"collisions,omitempty"`
}

// Owner returns the built-in kind a kubeconform file holds, if any.
func (ix *Index) Owner(file string) (GVK, bool) {
	if ix == nil || len(ix.Files[file]) == 0 {
		return GVK{}, false
	}
	return ix.Files[file][0], true
}

// Has reports whether g is a built-in kind.
func (ix *Index) Has(g GVK) bool {
	if ix == nil {
		return false
	}
	for _, k := range ix.Files[KubeconformFile(g)] {
		if k == g {
			return true
		}
	}
	return false
}

// Collision reports the built-in kind of another group whose schema kubeconform would use for
// g, because kubeconform's file names keep only the group's first label.
func (ix *Index) Collision(g GVK) (GVK, bool) {
	if ix == nil || ix.Has(g) {
		return GVK{}, false
	}
	owner, ok := ix.Owner(KubeconformFile(g))
	if !ok || owner.Group == g.Group {
		return GVK{}, false
	}
	return owner, true
}

// generatorVersion changes whenever the conversion changes, so caches built by an older
// Tollgate are rebuilt instead of silently reused.
const generatorVersion = 1

// generated is the output of converting an OpenAPI v2 spec.
type generated struct {
	strict, loose map[string][]byte // kubeconform file name -> schema
	index         Index
	objectMeta    map[string]any // {"strict": schema, "loose": schema}, for CRD schemas
}

// fromSwagger converts the definitions of a Kubernetes swagger.json that carry
// x-kubernetes-group-version-kind into standalone schemas, strict and not.
func fromSwagger(swagger []byte, k8sVersion string) (*generated, error) {
	var spec struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(swagger, &spec); err != nil {
		return nil, fmt.Errorf("read OpenAPI spec: %w", err)
	}
	if len(spec.Definitions) == 0 {
		return nil, fmt.Errorf("read OpenAPI spec: no definitions")
	}
	g := &generated{
		strict: map[string][]byte{}, loose: map[string][]byte{},
		index: Index{Generator: generatorVersion, KubernetesVersion: k8sVersion, Files: map[string][]GVK{}},
	}
	names := make([]string, 0, len(spec.Definitions))
	for n := range spec.Definitions {
		names = append(names, n)
	}
	sort.Strings(names)
	owner := map[string]string{} // file -> definition name
	for _, name := range names {
		def := asMap(spec.Definitions[name])
		gvks := asSlice(def["x-kubernetes-group-version-kind"])
		if len(gvks) == 0 {
			continue
		}
		var strictJSON, looseJSON []byte
		for _, raw := range gvks {
			m := asMap(raw)
			k := GVK{Group: str(m["group"]), Version: str(m["version"]), Kind: str(m["kind"])}
			if k.Kind == "" || k.Version == "" {
				continue
			}
			file := KubeconformFile(k)
			if prev, ok := owner[file]; ok && prev != name {
				g.index.Collisions = append(g.index.Collisions, fmt.Sprintf("%s: %s (%s) and %s (%s)",
					file, g.index.Files[file][0], prev, k, name))
				continue
			}
			if strictJSON == nil {
				var err error
				if strictJSON, err = json.Marshal(newConverter(spec.Definitions, true).root(def)); err != nil {
					return nil, fmt.Errorf("schema for %s: %w", name, err)
				}
				if looseJSON, err = json.Marshal(newConverter(spec.Definitions, false).root(def)); err != nil {
					return nil, fmt.Errorf("schema for %s: %w", name, err)
				}
			}
			owner[file] = name
			g.strict[file], g.loose[file] = strictJSON, looseJSON
			g.index.Files[file] = append(g.index.Files[file], k)
		}
	}
	if om, ok := spec.Definitions[defObjectMeta]; ok {
		g.objectMeta = map[string]any{
			"strict": newConverter(spec.Definitions, true).root(asMap(om)),
			"loose":  newConverter(spec.Definitions, false).root(asMap(om)),
		}
	}
	return g, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
