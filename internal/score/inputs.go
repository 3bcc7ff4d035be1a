package score

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"

	"github.com/tollgate-dev/tollgate/internal/manifest"
)

// Input is one manifest document as kube-score reads it: a file of its own, so every object
// kube-score reports maps back to exactly one document through its file name.
type Input struct {
	Name    string // file name, unique in the batch (doc-00001.yaml)
	Content []byte
}

// source is where a document came from, for the findings about it.
type source struct {
	File     string
	Line     int
	Resource string
}

// Batch is a set of documents prepared for one kube-score run, with the way back from
// kube-score's file names and object keys to the user's files.
type Batch struct {
	Inputs []Input
	byName map[string]source   // Input.Name -> source
	byKey  map[string][]source // kube-score object key Kind/apiVersion/namespace/name -> sources
	// scored are the keys of inputs kube-score must report on: the kinds it decodes.
	scored map[string]string // key -> resource
}

// scoredKinds are the apiVersion/kind pairs kube-score v1.20.0 decodes and scores (parser.decodeItem);
// it passes over other kinds silently.
var scoredKinds = map[string]bool{
	"v1/Pod": true, "v1/Service": true,
	"batch/v1/Job": true, "batch/v1/CronJob": true, "batch/v1beta1/CronJob": true,
	"apps/v1/Deployment": true, "apps/v1beta1/Deployment": true, "apps/v1beta2/Deployment": true, "extensions/v1beta1/Deployment": true,
	"apps/v1/StatefulSet": true, "apps/v1beta1/StatefulSet": true, "apps/v1beta2/StatefulSet": true,
	"apps/v1/DaemonSet": true, "apps/v1beta2/DaemonSet": true, "extensions/v1beta1/DaemonSet": true,
	"networking.k8s.io/v1/NetworkPolicy": true,
	"policy/v1/PodDisruptionBudget":      true, "policy/v1beta1/PodDisruptionBudget": true,
	"extensions/v1beta1/Ingress": true, "networking.k8s.io/v1beta1/Ingress": true, "networking.k8s.io/v1/Ingress": true,
	"autoscaling/v1/HorizontalPodAutoscaler": true, "autoscaling/v2/HorizontalPodAutoscaler": true,
	"autoscaling/v2beta1/HorizontalPodAutoscaler": true, "autoscaling/v2beta2/HorizontalPodAutoscaler": true,
}

// NewBatch turns loaded documents into kube-score inputs.
func NewBatch(docs []manifest.Document) (*Batch, error) {
	b := &Batch{byName: map[string]source{}, byKey: map[string][]source{}, scored: map[string]string{}}
	for i, d := range docs {
		content, err := inputContent(d)
		if err != nil {
			return nil, fmt.Errorf("prepare %s (document %d) for kube-score: %w", d.File, d.Index+1, err)
		}
		name := fmt.Sprintf("doc-%05d.yaml", i+1)
		src := source{File: d.File, Line: d.Line, Resource: d.Resource()}
		b.Inputs = append(b.Inputs, Input{Name: name, Content: content})
		b.byName[name] = src
		key := objectKey(d)
		b.byKey[key] = append(b.byKey[key], src)
		if scoredKinds[d.APIVersion+"/"+d.Kind] {
			b.scored[key] = src.Resource
		}
	}
	return b, nil
}

// lookup finds the document kube-score reported on, by its input file name first and by its
// object key when kube-score replaced the file name (it honours Helm "# Source:" comments).
func (b *Batch) lookup(fileName, objectName string) (source, bool) {
	if s, ok := b.byName[path.Base(fileName)]; ok {
		return s, true
	}
	if ss := b.byKey[objectName]; len(ss) > 0 {
		return ss[0], true
	}
	return source{}, false
}

// objectKey is kube-score's scorecard key for an object: Kind/apiVersion/namespace/name, with the
// namespace as written (empty when the manifest has none) and metadata.name only: an object
// with just a generateName has an empty name there.
func objectKey(d manifest.Document) string {
	ns, name := "", ""
	if md, ok := d.Object["metadata"].(map[string]any); ok {
		ns, _ = md["namespace"].(string)
		name, _ = md["name"].(string)
	}
	return d.Kind + "/" + d.APIVersion + "/" + ns + "/" + name
}

// inputHeader starts every input so the document's first line is never a Helm "# Source:" comment,
// which would make kube-score report a file name we cannot map back.
const inputHeader = "# tollgate score input\n"

// inputContent is the document as kube-score should read it: the original YAML when it is one
// self-contained document, else the decoded object as JSON (which is YAML too). kube-score splits
// files on "\n---\n", so a raw text holding a separator must not be passed through.
func inputContent(d manifest.Document) ([]byte, error) {
	raw := bytes.ReplaceAll(d.Raw, []byte("\r\n"), []byte("\n"))
	raw = bytes.TrimPrefix(raw, []byte("---\n"))
	if len(bytes.TrimSpace(raw)) > 0 && !bytes.Contains(raw, []byte("\n---")) && !bytes.HasPrefix(raw, []byte("---")) {
		return append([]byte(inputHeader), raw...), nil
	}
	if d.Object == nil {
		return nil, fmt.Errorf("document has no content")
	}
	j, err := json.Marshal(d.Object)
	if err != nil {
		return nil, fmt.Errorf("encode document: %w", err)
	}
	return append(append([]byte(inputHeader), j...), '\n'), nil
}
