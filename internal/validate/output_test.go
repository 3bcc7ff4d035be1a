package validate

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"gopkg.in/yaml.v3"
)

// The parser fails closed: anything but kubeconform's well-formed verdict on every document
// handed over is an error, never a pass.
func TestParseFailsClosed(t *testing.T) {
	docs, err := manifest.Parse("k8s/app.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(docs, nil, "", defaultOptions(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const twoValid = `{"resources": [], "summary": {"valid": 2, "invalid": 0, "errors": 0, "skipped": 0}}`
	bad := func(name, status, msg string) string {
		return `{"resources": [{"filename": "/w/docs/0.yaml", "kind": "ConfigMap", "version": "v1", "name": "` + name + `", "status": "` + status + `", "msg": "` + msg + `"}], "summary": {"valid": 1, "invalid": 1}}`
	}
	tests := []struct {
		name   string
		stdout string
		code   int
		want   string // "ok", "tool" or "input"
		rules  int
	}{
		{"all valid", twoValid, 0, "ok", 0},
		{"crash exit code", twoValid, 2, "tool", 0},
		{"garbage output", "panic: runtime error", 1, "tool", 0},
		{"no summary", `{"resources": []}`, 0, "tool", 0},
		{"a document never checked", `{"resources": [], "summary": {"valid": 1}}`, 0, "tool", 0},
		{"exit 1 without findings", twoValid, 1, "tool", 0},
		{"result for a document we did not hand over", bad("c", "statusInvalid", "x"), 1, "tool", 0},
		{"invalid", bad("b", "statusInvalid", "problem validating schema - at '/data': got string, want object"), 1, "ok", 1},
		{"invalid without detail", bad("b", "statusInvalid", "problem validating schema"), 1, "ok", 1},
		{"missing schema", bad("b", "statusError", "could not find schema for Secret"), 1, "ok", 1},
		{"skipped", bad("b", "statusSkipped", ""), 0, "ok", 1},
		{"parse error is bad input", bad("b", "statusError", "error unmarshalling resource: error converting YAML to JSON: yaml: line 3: bad"), 1, "input", 0},
		{"unreadable document kubeconform cannot name", `{"resources": [{"filename": "/w/docs/0.yaml", "status": "statusError", "msg": "error unmarshalling resource: yaml: line 2: x"}], "summary": {"valid": 1, "errors": 1}}`, 1, "input-unplaced", 0},
		{"schema download failure is a tool error", bad("b", "statusError", "failed downloading schema at https://x: timeout"), 1, "tool", 0},
		{"unknown status", bad("b", "statusMaybe", ""), 1, "tool", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := p.Parse([]byte(tt.stdout), nil, tt.code)
			var te *model.ToolError
			var ie *model.InputError
			got := "ok"
			switch {
			case errors.As(err, &ie) && ie.File == "":
				got = "input-unplaced" // the parsers disagree: the message lists the candidates
				if !strings.Contains(err.Error(), "k8s/app.yaml:1, k8s/app.yaml:5") {
					t.Errorf("error %q does not list the candidate documents", err)
				}
			case errors.As(err, &ie):
				got = "input"
				if ie.File != "k8s/app.yaml" || ie.Line != 7 { // line 3 of the document, which starts at line 5
					t.Errorf("input error at %s:%d, want k8s/app.yaml:7", ie.File, ie.Line)
				}
			case errors.As(err, &te):
				got = "tool"
			case err != nil:
				got = "other: " + err.Error()
			}
			if got != tt.want || len(fs) != tt.rules {
				t.Errorf("got %s with %d findings (%v), want %s with %d", got, len(fs), err, tt.want, tt.rules)
			}
		})
	}
}

// A batch file splits, the way kubeconform splits files, into exactly the documents Tollgate
// put in it, whatever separators, comments and JSON the sources used.
func TestBatchFile(t *testing.T) {
	src := "# c\n--- # first\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n--- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n---\r\napiVersion: v1\r\nkind: Service\r\nmetadata: {name: c}\r\n"
	docs, err := manifest.Parse("s.yaml", []byte(src))
	if err != nil || len(docs) != 3 {
		t.Fatalf("%d docs, %v", len(docs), err)
	}
	j, err := manifest.Parse("j.json", []byte("{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"List\",\n\t\"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"d\"}}]\n}"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, j...)
	b := &batch{names: map[resultKey]bool{}}
	var bases []int
	for _, d := range docs {
		raw, base := docText(d)
		b.add(raw)
		bases = append(bases, base)
	}
	// kubeconform splits at "\n---" and drops the rest of that line.
	parts := strings.Split(b.buf.String(), "\n---")
	var got []string
	for i, p := range parts {
		body := p
		if i > 0 {
			_, body, _ = strings.Cut(p, "\n")
		}
		var v map[string]any
		if err := yaml.Unmarshal([]byte(body), &v); err != nil || v == nil {
			t.Fatalf("part %q does not parse: %v", body, err)
		}
		got = append(got, fmt.Sprint(v["kind"], "/", v["metadata"].(map[string]any)["name"]))
	}
	if strings.Join(got, ",") != "ConfigMap/a,Secret/b,Service/c,Pod/d" {
		t.Errorf("kubeconform would see %v\nfile:\n%s", got, b.buf.String())
	}
	// Line bases: the ConfigMap's first line as kubeconform sees it is file line 3; the others
	// are sent as JSON, without lines.
	if fmt.Sprint(bases) != "[3 0 9 0]" {
		t.Errorf("line bases %v", bases)
	}
}

func TestLeafErrors(t *testing.T) {
	msg := "problem validating schema. Check JSON formatting: jsonschema validation failed with 'file:///s/deployment-apps-v1.json#' - at '/spec/template/spec/containers/0': validation failed   - at '/spec/template/spec/containers/0/ports/0/containerPort': got string, want integer - at '/spec': additional properties 'replica', 'x' not allowed"
	got := leafErrors(kcResult{Msg: msg})
	want := []leafError{
		{"/spec/template/spec/containers/0/ports/0/containerPort", "got string, want integer"},
		{"/spec", "unknown field 'replica', 'x' (additional properties not allowed)"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %+v, want %+v", got[i], want[i])
		}
	}
	if p := readablePath("/spec/template/spec/containers/0/ports/0/containerPort"); p != "spec.template.spec.containers[0].ports[0].containerPort" {
		t.Errorf("readablePath = %s", p)
	}
}

// kubeconform must never fall back to its default (network) schema location, must be strict
// when asked, and must look up CRD schemas before the built-in ones.
func TestArgs(t *testing.T) {
	o := defaultOptions()
	o.SchemaLocations = []string{"https://example.com/{{ .ResourceKind }}.json"}
	args := strings.Join(Args(o, "/schemas", "/work"), " ")
	for _, want := range []string{"-output json", "-summary", "-strict", "-kubernetes-version 1.36.0",
		"-schema-location /work/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json -schema-location /schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json -schema-location https://example.com/{{ .ResourceKind }}.json",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if !strings.HasSuffix(args, " /work/docs") || strings.Contains(args, "default") || strings.Contains(args, "ignore-missing") {
		t.Errorf("args %q", args)
	}
	o = Options{KubernetesVersion: "v1.35.2"}
	args = strings.Join(Args(o, "", "/work"), " ")
	if strings.Contains(args, "-strict") || !strings.Contains(args, "-kubernetes-version 1.35.2") || strings.Count(args, "-schema-location") != 1 {
		t.Errorf("non-strict args without built-in schemas: %q", args)
	}
}
