package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// CRDSchema is the schema of one served version of a custom resource.
type CRDSchema struct {
	GVK    GVK
	Schema map[string]any
}

// IsCRD reports whether apiVersion/kind name a CustomResourceDefinition.
func IsCRD(apiVersion, kind string) bool {
	return kind == "CustomResourceDefinition" &&
		(apiVersion == "apiextensions.k8s.io/v1" || apiVersion == "apiextensions.k8s.io/v1beta1")
}

// FromCRD converts a decoded CustomResourceDefinition (v1, or v1beta1 with a top-level
// validation) into one schema per served version. objectMeta is the ObjectMeta schema saved by
// Build (LoadObjectMeta); nil accepts any metadata object.
func FromCRD(crd map[string]any, objectMeta map[string]any, strict bool) ([]CRDSchema, error) {
	spec := asMap(crd["spec"])
	group := str(spec["group"])
	kind := str(asMap(spec["names"])["kind"])
	if group == "" || kind == "" {
		return nil, fmt.Errorf("CustomResourceDefinition %s has no spec.group or spec.names.kind", str(asMap(crd["metadata"])["name"]))
	}
	common := asMap(asMap(spec["validation"])["openAPIV3Schema"]) // v1beta1
	type version struct {
		name   string
		schema map[string]any
	}
	var versions []version
	for _, v := range asSlice(spec["versions"]) {
		vm := asMap(v)
		if served, ok := vm["served"].(bool); ok && !served {
			continue // the API server rejects objects of a version it does not serve
		}
		s := asMap(asMap(vm["schema"])["openAPIV3Schema"])
		if len(s) == 0 {
			s = common
		}
		if n := str(vm["name"]); n != "" {
			versions = append(versions, version{n, s})
		}
	}
	if len(versions) == 0 && str(spec["version"]) != "" { // v1beta1 single version
		versions = append(versions, version{str(spec["version"]), common})
	}
	var out []CRDSchema
	for _, v := range versions {
		out = append(out, CRDSchema{
			GVK:    GVK{Group: group, Version: v.name, Kind: kind},
			Schema: crdRoot(v.schema, objectMeta, strict),
		})
	}
	return out, nil
}

// crdRoot converts a CRD's openAPIV3Schema and adds what CRD schemas rarely declare but every
// object has: apiVersion, kind and metadata (ObjectMeta). Without them a strict top level would
// reject every object; with them it still catches a misspelt top-level key.
func crdRoot(s map[string]any, objectMeta map[string]any, strict bool) map[string]any {
	in := make(map[string]any, len(s)+2)
	for k, v := range s {
		in[k] = v
	}
	if len(s) == 0 { // no schema: the API server accepts anything
		in["x-kubernetes-preserve-unknown-fields"] = true
	}
	in["type"] = "object"
	props := map[string]any{}
	for k, v := range asMap(s["properties"]) {
		props[k] = v
	}
	props["apiVersion"] = map[string]any{"type": "string"}
	props["kind"] = map[string]any{"type": "string"}
	crdMeta := asMap(props["metadata"])
	props["metadata"] = map[string]any{"type": "object"}
	in["properties"] = props

	out := newConverter(nil, strict).node(in, nodeOpts{})
	outProps := asMap(out["properties"])
	meta := map[string]any{"type": "object"}
	if objectMeta != nil {
		meta = make(map[string]any, len(objectMeta))
		for k, v := range objectMeta {
			meta[k] = v
		}
	}
	// A CRD may narrow metadata (e.g. a name pattern); its properties win over ObjectMeta's.
	if extra := asMap(newConverter(nil, false).node(crdMeta, nodeOpts{})["properties"]); len(extra) > 0 {
		mp := map[string]any{}
		for k, v := range asMap(meta["properties"]) {
			mp[k] = v
		}
		for k, v := range extra {
			mp[k] = v
		}
		meta["properties"] = mp
	}
	outProps["metadata"] = meta
	return out
}

// WriteCRDSchemas writes schemas into dir in the CRDLocation layout. Each schema is compiled
// first: kubeconform silently treats a schema that does not compile as missing.
func WriteCRDSchemas(dir string, list []CRDSchema) error {
	sort.Slice(list, func(i, j int) bool { return list[i].GVK.String() < list[j].GVK.String() })
	for _, s := range list {
		b, err := json.Marshal(s.Schema)
		if err != nil {
			return fmt.Errorf("schema for %s: %w", s.GVK, err)
		}
		if err := Compile(b); err != nil {
			return fmt.Errorf("schema for %s does not compile: %w", s.GVK, err)
		}
		p := filepath.Join(dir, CRDFile(s.GVK))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Compile compiles a schema the way kubeconform v0.8.0 does (draft 4 by default, its own
// "duration" format), returning the error kubeconform would swallow.
func Compile(b []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.RegisterFormat(&jsonschema.Format{Name: "duration", Validate: func(any) error { return nil }})
	const url = "file:///schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return err
	}
	_, err = c.Compile(url)
	return err
}
