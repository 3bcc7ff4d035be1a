package schemas

import (
	"fmt"
	"path/filepath"
	"strings"
)

// GVK identifies a kind.
type GVK struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// APIVersion is "group/version", or "version" for the core group.
func (g GVK) APIVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

func (g GVK) String() string { return g.APIVersion() + " " + g.Kind }

// ParseAPIVersion splits "group/version".
func ParseAPIVersion(apiVersion, kind string) GVK {
	if g, v, ok := strings.Cut(apiVersion, "/"); ok {
		return GVK{Group: g, Version: v, Kind: kind}
	}
	return GVK{Version: apiVersion, Kind: kind}
}

// KubeconformFile is the file name kubeconform v0.8.0 looks up for a kind in its default
// layout: lower-case kind, the group's FIRST label only, and the version. Because only the
// first label is kept, kinds of different groups (networking.k8s.io, networking.istio.io)
// can map to the same file: see Index.Collision.
func KubeconformFile(g GVK) string {
	suffix := ""
	if g.Group == "" {
		suffix = "-" + strings.ToLower(g.Version)
	} else {
		first, _, _ := strings.Cut(g.Group, ".")
		suffix = "-" + strings.ToLower(first) + "-" + strings.ToLower(g.Version)
	}
	return strings.ToLower(g.Kind) + suffix + ".json"
}

// VersionDir is the sub-directory of a built schema dir holding one flavour of schemas,
// e.g. "v1.36.0-standalone-strict".
func VersionDir(k8sVersion string, strict bool) string {
	d := "v" + NormalizeVersion(k8sVersion) + "-standalone"
	if strict {
		d += "-strict"
	}
	return d
}

// NormalizeVersion drops a leading "v": "v1.36.0" -> "1.36.0" (kubeconform's -kubernetes-version).
func NormalizeVersion(v string) string { return strings.TrimPrefix(strings.TrimSpace(v), "v") }

// Location is the kubeconform -schema-location template for a built schema dir. It is always a
// full template ending in .json, so kubeconform does not append its own (which it does for any
// location not ending in "json").
func Location(dir string) string {
	return filepath.ToSlash(dir) + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
}

// CRDLocation is the template for CRD schemas written by WriteCRDSchemas. It keys files by the
// full group, so custom resources never collide with each other or with built-in kinds.
func CRDLocation(dir string) string {
	return filepath.ToSlash(dir) + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
}

// CRDFile is the path, relative to a CRD schema dir, of the schema for g.
func CRDFile(g GVK) string {
	return filepath.Join(g.Group, fmt.Sprintf("%s_%s.json", strings.ToLower(g.Kind), g.Version))
}
