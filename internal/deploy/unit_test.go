package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func parseDocs(t *testing.T, name, text string) []manifest.Document {
	t.Helper()
	docs, err := manifest.Parse(name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

const workloads = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
        - {name: migrate, image: "registry.example.com/shop/web:1.0"}
      containers:
        - {name: web, image: "registry.example.com/shop/web:1.0"}
        - {name: proxy, image: "docker.io/library/nginx:1.27"}
      ephemeralContainers:
        - {name: debug, image: "busybox"}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - {name: report, image: "registry.example.com/shop/web@sha256:1111111111111111111111111111111111111111111111111111111111111111"}
---
apiVersion: v1
kind: Pod
metadata: {name: one, namespace: shop}
spec:
  containers:
    - {name: c, image: "registry.example.com/shop/other:2"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {image: "registry.example.com/shop/web:1.0"}
`

func TestImagesAndPinning(t *testing.T) {
	docs := parseDocs(t, "app.yaml", workloads)
	var got []string
	for _, d := range docs {
		for _, im := range Images(d.Object) {
			got = append(got, d.Kind+"/"+im.Field+"/"+im.Container+"="+im.Ref)
		}
	}
	want := []string{
		"Deployment/initContainers/migrate=registry.example.com/shop/web:1.0",
		"Deployment/containers/web=registry.example.com/shop/web:1.0",
		"Deployment/containers/proxy=docker.io/library/nginx:1.27",
		"Deployment/ephemeralContainers/debug=busybox",
		"CronJob/containers/report=registry.example.com/shop/web@sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"Pod/containers/c=registry.example.com/shop/other:2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("images:\n got %q\nwant %q", got, want)
	}

	pushed := "registry.example.com/shop/web@sha256:" + strings.Repeat("a", 64)
	p, err := NewPinning(pushed)
	if err != nil {
		t.Fatal(err)
	}
	d := &Deployer{Cluster: &Cluster{}, Options: Options{Pin: p}, record: &Record{}}
	objs, err := d.prepare(docs)
	if err != nil {
		t.Fatal(err)
	}
	refs := uniqueRefs(objs)
	wantRefs := []string{"busybox", "docker.io/library/nginx:1.27", "registry.example.com/shop/other:2", pushed}
	if !reflect.DeepEqual(refs, wantRefs) {
		t.Errorf("after pinning, images are %q, want %q", refs, wantRefs)
	}
	if len(d.record.Pinned) != 3 {
		t.Errorf("want 3 rewrites (init, main, cron job), got %q", d.record.Pinned)
	}
	// The loader's documents are untouched: other stages read the same ones.
	if Images(docs[0].Object)[0].Ref != "registry.example.com/shop/web:1.0" {
		t.Error("pinning changed the loaded document")
	}
	// A ConfigMap mentioning the image is data, not a container: left alone.
	for _, o := range objs {
		if o.gvk.Kind == "ConfigMap" && o.obj.Object["data"].(map[string]any)["image"] != "registry.example.com/shop/web:1.0" {
			t.Error("ConfigMap data rewritten")
		}
	}

	for _, tc := range []struct {
		ref  string
		want bool
	}{
		{"registry.example.com/shop/web", true},
		{"registry.example.com/shop/web:latest", true},
		{pushed, false}, // already pinned
		{"registry.example.com/shop/web2:1", false}, // another repository
		{"other.example.com/shop/web:1", false},
		{"index.docker.io/library/busybox", false},
	} {
		if _, ok := p.Pin(tc.ref); ok != tc.want {
			t.Errorf("Pin(%q) = %v, want %v", tc.ref, ok, tc.want)
		}
	}
	// Docker Hub short names normalise like the registry does.
	hub, _ := NewPinning("docker.io/library/nginx@sha256:" + strings.Repeat("b", 64))
	if to, ok := hub.Pin("nginx:1.27"); !ok || !strings.HasPrefix(to, "docker.io/library/nginx@sha256:") {
		t.Errorf("nginx:1.27 not pinned to the pushed docker.io/library/nginx: %q %v", to, ok)
	}
	if _, err := NewPinning("registry.example.com/shop/web:1.0"); err == nil {
		t.Error("a pushed reference without a digest must be refused")
	}
}

func TestOrder(t *testing.T) {
	docs := parseDocs(t, "all.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: b, namespace: x}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: x}
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: x}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: a, namespace: x}
---
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: x}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: p}
`)
	d := &Deployer{Cluster: &Cluster{}, record: &Record{}}
	for i := 0; i < 3; i++ { // any input order gives the same apply order
		objs, err := d.prepare(docs)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.resource())
		}
		want := []string{"Namespace/x", "CustomResourceDefinition/widgets.example.com", "ConfigMap/x/c", "Service/x/s",
			"Deployment/x/a", "Deployment/x/b", "ValidatingAdmissionPolicy/p", "Widget/x/w"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("order:\n got %q\nwant %q", got, want)
		}
		docs[0], docs[len(docs)-1] = docs[len(docs)-1], docs[0]
	}
}

func TestPrepareNeedsAName(t *testing.T) {
	docs := parseDocs(t, "gen.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: x-\n")
	_, err := (&Deployer{Cluster: &Cluster{}, record: &Record{}}).prepare(docs)
	var ie *model.InputError
	if !errors.As(err, &ie) || ie.File != "gen.yaml" || ie.Line != 1 || !strings.Contains(err.Error(), "metadata.name") {
		t.Fatalf("want an input error at gen.yaml:1 about metadata.name, got %v", err)
	}
}

func TestApplySetID(t *testing.T) {
	// kubectl's own test vectors (k8s.io/kubectl pkg/cmd/apply): a Secret parent "my-set" in
	// namespace "test", and a cluster-scoped custom resource parent.
	if got := applySetID("my-set", "test", "Secret", ""); got != "applyset-0eFHV8ySqp7XoShsGvyWFQD3s96yqwHmzc4e0HR1dsY-v1" {
		t.Errorf("Secret parent id = %s", got)
	}
	if got := applySetID("my-set", "", "ApplySet", "company.com"); got != "applyset-rhp1a-HVAVT_dFgyEygyA1BEB82HPp2o10UiFTpqtAs-v1" {
		t.Errorf("custom resource parent id = %s", got)
	}
	if parentID("tollgate", "a") == parentID("tollgate", "b") {
		t.Error("parents in different namespaces share an id")
	}
}

const canary = "canary-0123456789abcdef-SECRET"

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveKubeconfig(t *testing.T) {
	dir := t.TempDir()
	good := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: ` + canary + `}
- name: plugin
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/echo, args: ["` + canary + `"]}
contexts:
- name: main
  context: {cluster: c, user: u, namespace: shop}
- name: plugged
  context: {cluster: c, user: plugin}
current-context: main
`
	tests := []struct {
		name      string
		target    func() Target
		wantNS    string
		wantErr   string
		wantFile  string
		wantLine  int
		wantInput bool
	}{
		{name: "file", target: func() Target { return Target{Kubeconfig: writeFile(t, dir, "good", good)} }, wantNS: "shop"},
		{name: "secret data, namespace override", target: func() Target { return Target{Data: []byte(good), Namespace: "other"} }, wantNS: "other"},
		{name: "unknown context", target: func() Target { return Target{Data: []byte(good), Context: "nope"} }, wantErr: "nope", wantFile: dataName, wantInput: true},
		{name: "exec plugin refused", target: func() Target { return Target{Data: []byte(good), Context: "plugged"} }, wantErr: "credential plugin", wantFile: dataName, wantInput: true},
		{name: "does not parse", target: func() Target {
			return Target{Kubeconfig: writeFile(t, dir, "bad", "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: {token: "+canary+"\n")}
		}, wantErr: "does not parse", wantFile: filepath.Join(dir, "bad"), wantLine: 5, wantInput: true},
		{name: "not a kubeconfig", target: func() Target { return Target{Data: []byte("token: " + canary + "\n")} }, wantErr: "no cluster", wantFile: dataName, wantInput: true},
		{name: "missing file", target: func() Target { return Target{Kubeconfig: filepath.Join(dir, "missing")} }, wantErr: "no such file", wantFile: filepath.Join(dir, "missing"), wantInput: true},
		{name: "nothing named", target: func() Target { return Target{} }, wantErr: "no kubeconfig", wantInput: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Resolve(tt.target())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Namespace != tt.wantNS || c.Host != "https://127.0.0.1:6443" || c.Config.BearerToken != canary {
					t.Errorf("resolved %+v", c)
				}
				if got := c.redact.clean("x " + canary + " y"); strings.Contains(got, canary) {
					t.Errorf("redactor kept the token: %s", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("error quotes the kubeconfig's secret: %v", err)
			}
			var ie *model.InputError
			if tt.wantInput != errors.As(err, &ie) {
				t.Fatalf("input error %v, want %v: %v", !tt.wantInput, tt.wantInput, err)
			}
			if ie != nil && (ie.File != tt.wantFile || (tt.wantLine != 0 && ie.Line != tt.wantLine)) {
				t.Errorf("error at %s:%d, want %s:%d", ie.File, ie.Line, tt.wantFile, tt.wantLine)
			}
		})
	}
}

func TestTargetFrom(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	c := config.Default()
	if _, ok := TargetFrom(c, "/proj"); ok {
		t.Error("no kubeconfig, context or KUBECONFIG must name no cluster (never ~/.kube/config unasked)")
	}
	t.Setenv("KUBECONFIG", "/env/kubeconfig")
	if tg, ok := TargetFrom(c, "/proj"); !ok || tg.Kubeconfig != "/env/kubeconfig" {
		t.Errorf("KUBECONFIG not used: %+v", tg)
	}
	c.Deploy.Kubeconfig = "ci/kubeconfig"
	if tg, _ := TargetFrom(c, "/proj"); tg.Kubeconfig != "/proj/ci/kubeconfig" {
		t.Errorf("deploy.kubeconfig is relative to the project: %+v", tg)
	}
}

func TestOptionsFrom(t *testing.T) {
	c, err := config.Parse("tollgate.yaml", []byte("version: 1\ndeploy:\n  timeout: 90s\n  prune: true\n  verify: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := OptionsFrom(c, "registry.example.com/a@sha256:"+strings.Repeat("c", 64))
	if err != nil {
		t.Fatal(err)
	}
	if o.Timeout.Seconds() != 90 || !o.Prune || o.Verify || o.Pin == nil || o.ApplySet != "tollgate" {
		t.Errorf("options %+v", o)
	}
	c.Deploy.Timeout = "soon"
	var ie *model.InputError
	if _, err := OptionsFrom(c, ""); !errors.As(err, &ie) || !strings.Contains(err.Error(), "deploy.timeout") {
		t.Errorf("bad timeout: %v", err)
	}
	if _, err := config.Parse("tollgate.yaml", []byte("version: 1\ndeploy:\n  kubecfg: x\n")); err == nil || !strings.Contains(err.Error(), "kubecfg") {
		t.Errorf("unknown deploy key accepted: %v", err)
	}
}

func toUnstructuredT(t *testing.T, obj runtime.Object, kind, apiVersion string) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetKind(kind)
	u.SetAPIVersion(apiVersion)
	return u
}

func TestReadRollout(t *testing.T) {
	two := int32(2)
	dep := func(gen, observed int64, updated, replicas, available int32, conds ...appsv1.DeploymentCondition) *unstructured.Unstructured {
		d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: replicas, AvailableReplicas: available, Conditions: conds}}
		d.Generation = gen
		return toUnstructuredT(t, d, "Deployment", "apps/v1")
	}
	job := func(conds ...batchv1.JobCondition) *unstructured.Unstructured {
		return toUnstructuredT(t, &batchv1.Job{Status: batchv1.JobStatus{Conditions: conds}}, "Job", "batch/v1")
	}
	tests := []struct {
		name         string
		obj          *unstructured.Unstructured
		done, failed bool
		detail       string
	}{
		{"deployment not observed", dep(2, 1, 2, 2, 2), false, false, "not observed generation 2"},
		{"deployment updating", dep(1, 1, 1, 2, 1), false, false, "1 of 2 replicas updated"},
		{"deployment old replicas", dep(1, 1, 2, 3, 2), false, false, "1 old replica"},
		{"deployment unavailable", dep(1, 1, 2, 2, 1), false, false, "1 of 2 updated replicas available"},
		{"deployment done", dep(1, 1, 2, 2, 2), true, false, "2 of 2"},
		{"deployment deadline", dep(1, 1, 0, 2, 0, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}), false, true, "progress deadline exceeded"},
		{"job running", job(), false, false, "0 of 1 completions"},
		{"job complete", job(batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}), true, false, ""},
		{"job failed", job(batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}), false, true, "BackoffLimitExceeded"},
		{"statefulset on delete", toUnstructuredT(t, &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}, "StatefulSet", "apps/v1"), true, false, "OnDelete"},
		{"daemonset pending", toUnstructuredT(t, &appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1}}, "DaemonSet", "apps/v1"), false, false, "1 of 3 pods updated"},
		{"service", toUnstructuredT(t, &corev1.Service{}, "Service", "v1"), true, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := readRollout(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if st.done != tt.done || st.failed != tt.failed || !strings.Contains(st.detail, tt.detail) {
				t.Errorf("state %+v, want done=%v failed=%v detail~%q", st, tt.done, tt.failed, tt.detail)
			}
		})
	}
}
