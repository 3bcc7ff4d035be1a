// Package canary is test support for proving that secret values never leave Tollgate: a
// project holding Secrets with a random canary value, and a wrapper that records everything a
// tool was given (arguments, input files, output) so a test can look for the canary in it.
package canary

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// New returns a random canary value.
func New() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "canary-" + hex.EncodeToString(b)
}

// Forms are the ways the canary can show up: as written, base64-encoded (a Secret's data),
// and without its prefix.
func Forms(c string) []string {
	return []string{c, base64.StdEncoding.EncodeToString([]byte(c)), strings.TrimPrefix(c, "canary-")}
}

// Project writes manifests holding the canary in every place a Secret keeps values: data
// (base64), stringData, kubectl's last-applied-configuration annotation, a Secret inside a
// List, a kustomize secretGenerator, and a Secret with a wrongly typed value (so a tool would
// have a reason to quote it). Beside them, a Deployment that reads the Secret.
func Project(dir, c string) error {
	b64 := base64.StdEncoding.EncodeToString([]byte(c))
	files := map[string]string{
		"k8s/secret.yaml": fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: db
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"v1","kind":"Secret","stringData":{"password":"%[1]s"}}'
type: Opaque
data:
  token: %[2]s
  notbase64: "%[1]s"
stringData:
  password: %[1]s
  port: 5432
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: listed}
  stringData: {key: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: typo}
strinData:
  password: %[1]s
`, c, b64),
		"k8s/app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        image: registry.example.com/app:1.0
        envFrom: [{secretRef: {name: db}}]
`,
		"gen/kustomization.yaml": fmt.Sprintf("secretGenerator:\n- name: generated\n  literals: [password=%s]\n", c),
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Wrapper writes an executable that records each call of the tool at real into capture (its
// arguments, a copy of every file or directory an argument names, its stdout and stderr),
// then behaves exactly as the tool did.
func Wrapper(dir, real, capture string) (string, error) {
	script := fmt.Sprintf(`#!/bin/sh
cap=%q
n=$(ls "$cap" | wc -l)
mkdir -p "$cap/$n/files"
printf '%%s\n' "$@" > "$cap/$n/args"
for a in "$@"; do
  if [ -e "$a" ]; then cp -r "$a" "$cap/$n/files/" 2>/dev/null; fi
done
%q "$@" > "$cap/$n/stdout" 2> "$cap/$n/stderr"
code=$?
cat "$cap/$n/stdout"
cat "$cap/$n/stderr" >&2
exit $code
`, capture, real)
	p := filepath.Join(dir, filepath.Base(real))
	if err := os.MkdirAll(capture, 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, []byte(script), 0o755)
}

// Find returns where any form of the canary appears under the given directories, and in the
// given texts (named by their key).
func Find(c string, dirs []string, texts map[string]string) []string {
	var hits []string
	check := func(where string, b []byte) {
		for _, f := range Forms(c) {
			if bytes.Contains(b, []byte(f)) {
				hits = append(hits, where)
				return
			}
		}
	}
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil {
				check(p, b)
			}
			return nil
		})
	}
	for k, v := range texts {
		check(k, []byte(v))
	}
	return hits
}
