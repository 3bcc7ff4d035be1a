// Command benchpolicy writes the inputs of ci/bench-policy.sh: N generated manifests (every
// pod-bearing kind, Services, ConfigMaps, Namespaces and their default-deny NetworkPolicies; about
// a third of the workloads break a policy) in files of 100 documents, and Tollgate's default policy
// library as plain files, so bare gator can read the same inputs.
//
//	go run ./ci/benchpolicy -docs 2000 -manifests DIR -library DIR
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/policies"
)

func main() {
	n := flag.Int("docs", 2000, "number of manifest documents")
	manifests := flag.String("manifests", "", "directory for the manifests")
	library := flag.String("library", "", "directory for the default library's templates and constraints")
	flag.Parse()
	if *manifests == "" || *library == "" {
		fmt.Fprintln(os.Stderr, "benchpolicy: -manifests and -library are required")
		os.Exit(2)
	}
	if err := run(*n, *manifests, *library); err != nil {
		fmt.Fprintln(os.Stderr, "benchpolicy:", err)
		os.Exit(1)
	}
}

func run(n int, manifests, library string) error {
	if err := fs.WalkDir(policies.Library, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := policies.Library.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(library, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	}); err != nil {
		return err
	}
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		return err
	}
	const namespaces = 10
	var docs []map[string]any
	for i := 0; i < namespaces; i++ {
		ns := fmt.Sprintf("team-%d", i)
		docs = append(docs,
			map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns,
				"labels": map[string]any{"pod-security.kubernetes.io/enforce": "restricted"}}},
			map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
				"metadata": map[string]any{"name": "default-deny", "namespace": ns},
				"spec":     map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress", "Egress"}}})
	}
	for i := 0; len(docs) < n; i++ {
		ns := fmt.Sprintf("team-%d", i%namespaces)
		name := fmt.Sprintf("app-%d", i)
		switch i % 5 {
		case 0, 1, 2:
			k := policy.PodKinds[i%len(policy.PodKinds)]
			d, err := policy.AsKind(workload(ns, name, i), k[0], k[1])
			if err != nil {
				return err
			}
			docs = append(docs, d)
		case 3:
			docs = append(docs, map[string]any{"apiVersion": "v1", "kind": "Service",
				"metadata": map[string]any{"name": name, "namespace": ns},
				"spec": map[string]any{"selector": map[string]any{"app.kubernetes.io/name": name},
					"ports": []any{map[string]any{"port": 80, "targetPort": "http"}}}})
		case 4:
			docs = append(docs, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": name, "namespace": ns},
				"data":     map[string]any{"LOG_LEVEL": "info", "INDEX": fmt.Sprint(i)}})
		}
	}
	for f := 0; f*100 < len(docs); f++ {
		var out []byte
		for _, d := range docs[f*100 : min(len(docs), (f+1)*100)] {
			b, err := yaml.Marshal(d)
			if err != nil {
				return err
			}
			out = append(append(out, "---\n"...), b...)
		}
		if err := os.WriteFile(filepath.Join(manifests, fmt.Sprintf("apps-%03d.yaml", f)), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// workload is a Deployment that passes every policy, with one defect in every third one.
func workload(ns, name string, i int) map[string]any {
	sc := map[string]any{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
		"capabilities": map[string]any{"drop": []any{"ALL"}}}
	ctr := map[string]any{
		"name":            "app",
		"image":           fmt.Sprintf("ghcr.io/acme/%s:1.%d.0@sha256:%064x", name, i, i),
		"ports":           []any{map[string]any{"name": "http", "containerPort": 8080}},
		"securityContext": sc,
		"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "64Mi"},
			"limits": map[string]any{"cpu": "500m", "memory": "128Mi"}},
		"livenessProbe":  map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": "http"}},
		"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/readyz", "port": "http"}},
	}
	switch i % 9 {
	case 0:
		sc["privileged"] = true
	case 3:
		ctr["image"] = fmt.Sprintf("ghcr.io/acme/%s:latest", name)
	case 6:
		delete(sc, "allowPrivilegeEscalation")
	}
	labels := map[string]any{"app.kubernetes.io/name": name}
	return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
		"spec": map[string]any{"replicas": 2, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"automountServiceAccountToken": false,
					"securityContext": map[string]any{"runAsNonRoot": true, "runAsUser": 10001,
						"seccompProfile": map[string]any{"type": "RuntimeDefault"}},
					"containers": []any{ctr}}}}}
}
