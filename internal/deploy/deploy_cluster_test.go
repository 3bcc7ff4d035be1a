package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tollgate-dev/tollgate/internal/deploy"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

const demoImage = "registry.example.com/demo/hello:1.4.2@sha256:3f2b7c6a1d9e8f0a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"

// TestDeployDemo deploys the demo app for real, checks what the server stored, then deploys it
// again and checks that nothing changed.
func TestDeployDemo(t *testing.T) {
	c := apiServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	markRolledOut(ctx, t, "demo", "hello") // no kubelet or controller: the test plays the controller

	docs := load(t, "fixtures/demo/k8s")
	v := &acceptAll{}
	d := deployer(t, c.AdminToken, "default", deploy.Options{Verify: true})
	d.Verifier = v
	res, rec, err := d.Deploy(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		t.Errorf("unexpected finding %s %s: %s", f.RuleID, f.Severity, f.Message)
	}
	if len(v.seen) != 1 || v.seen[0] != demoImage {
		t.Errorf("verifier was asked about %q, want the demo image", v.seen)
	}
	want := map[string]string{"Namespace/demo": "created", "Deployment/demo/hello": "created", "Service/demo/hello": "created",
		"NetworkPolicy/demo/hello": "created", "NetworkPolicy/demo/default-deny": "created", "PodDisruptionBudget/demo/hello": "created"}
	if got := actions(rec); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("actions %v, want %v", got, want)
	}
	if !strings.HasPrefix(rec.ServerVersion, "v1.36.0") {
		t.Errorf("server version %q", rec.ServerVersion)
	}

	// The objects exist with the manifests' fields, owned by Tollgate's field manager.
	dep, ok := get(t, deployGVR, "demo", "hello")
	if !ok {
		t.Fatal("Deployment demo/hello not created")
	}
	if r, _, _ := unstructured.NestedInt64(dep.Object, "spec", "replicas"); r != 2 {
		t.Errorf("replicas %d", r)
	}
	ctrs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if img := ctrs[0].(map[string]any)["image"]; img != demoImage {
		t.Errorf("image %v", img)
	}
	managers := map[string]string{}
	for _, mf := range dep.GetManagedFields() {
		managers[mf.Manager] = string(mf.Operation)
	}
	if managers[deploy.FieldManager] != string(metav1.ManagedFieldsOperationApply) {
		t.Errorf("managed fields %v: want %q with operation Apply", managers, deploy.FieldManager)
	}
	svc, ok := get(t, svcGVR, "demo", "hello")
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if !ok || len(ports) != 1 || ports[0].(map[string]any)["port"] != int64(80) {
		t.Errorf("service ports %v", ports)
	}
	if ns, _ := get(t, nsGVR, "", "demo"); ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace labels %v", ns.GetLabels())
	}
	if _, ok := get(t, netpolGVR, "demo", "hello"); !ok {
		t.Error("NetworkPolicy missing")
	}
	if _, ok := get(t, pdbGVR, "demo", "hello"); !ok {
		t.Error("PodDisruptionBudget missing")
	}

	// A second deploy of the same manifests changes nothing.
	before := map[string]string{}
	for _, o := range rec.Objects {
		before[o.Resource] = resourceVersion(t, o.Resource)
	}
	d2 := deployer(t, c.AdminToken, "default", deploy.Options{Verify: true})
	d2.Verifier = v
	res2, rec2, err := d2.Deploy(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Findings) != 0 {
		t.Errorf("second deploy: findings %v", res2.Findings)
	}
	for r, a := range actions(rec2) {
		if a != "unchanged" {
			t.Errorf("second deploy: %s %s, want unchanged", r, a)
		}
		if rv := resourceVersion(t, r); rv != before[r] {
			t.Errorf("second deploy: %s resourceVersion %s -> %s", r, before[r], rv)
		}
	}
}

func resourceVersion(t *testing.T, resource string) string {
	t.Helper()
	parts := strings.Split(resource, "/")
	gvr := map[string]schema.GroupVersionResource{"Namespace": nsGVR, "Deployment": deployGVR, "Service": svcGVR,
		"NetworkPolicy": netpolGVR, "PodDisruptionBudget": pdbGVR, "ConfigMap": cmGVR}[parts[0]]
	ns, name := "", parts[len(parts)-1]
	if len(parts) == 3 {
		ns = parts[1]
	}
	u, ok := get(t, gvr, ns, name)
	if !ok {
		t.Fatalf("%s missing", resource)
	}
	return u.GetResourceVersion()
}

const judgedSet = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: dry}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example.com/shop/web:1.0"}]
---
apiVersion: v1
kind: Namespace
metadata: {name: NEWNS}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: inside, namespace: NEWNS}
`

// TestDryRunPersistsNothing: a dry-run judges every object it can and stores none; objects in a
// namespace the same deploy creates cannot be judged yet, and say so.
func TestDryRunPersistsNothing(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	newNS := ns + "-new"
	docs := parse(t, "app.yaml", strings.ReplaceAll(judgedSet, "NEWNS", newNS))
	d := deployer(t, c.AdminToken, ns, deploy.Options{DryRun: true, Verify: true})
	d.Verifier = &acceptAll{}
	res, rec, err := d.Deploy(context.Background(), docs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ConfigMap/" + ns + "/settings": "judged", "Deployment/" + ns + "/web": "judged", "Namespace/" + newNS: "judged",
		"ConfigMap/" + newNS + "/inside": "not-judged"}
	if got := actions(rec); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("actions %v, want %v", got, want)
	}
	nj := findings(res, deploy.RuleNotJudged)
	if len(nj) != 1 || nj[0].Location.File != "app.yaml" || nj[0].Location.Line != 20 || nj[0].Severity != model.SeverityLow {
		t.Errorf("not-judged findings %+v", nj)
	}
	for _, f := range res.Findings {
		if f.RuleID != deploy.RuleNotJudged {
			t.Errorf("unexpected finding %s: %s", f.RuleID, f.Message)
		}
	}
	if _, ok := get(t, cmGVR, ns, "settings"); ok {
		t.Error("dry-run stored ConfigMap settings")
	}
	if _, ok := get(t, deployGVR, ns, "web"); ok {
		t.Error("dry-run stored Deployment web")
	}
	if _, ok := get(t, nsGVR, "", newNS); ok {
		t.Error("dry-run created the namespace")
	}

	// The real deploy judges the namespaced object after creating its namespace.
	res, rec, err = deployer(t, c.AdminToken, ns, deploy.Options{}).Deploy(context.Background(), parse(t, "app.yaml",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: "+newNS+"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: inside, namespace: "+newNS+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 || actions(rec)["ConfigMap/"+newNS+"/inside"] != "created" {
		t.Errorf("real deploy: findings %v, actions %v", res.Findings, actions(rec))
	}
}

// TestAdmissionPolicyRejects: a ValidatingAdmissionPolicy (CEL, in the API server) that denies
// privileged containers makes the dry-run report that denial for the bad fixture, with the
// fixture's file and line; nothing is stored and nothing else is applied.
func TestAdmissionPolicyRejects(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()
	// Install the policy with the deploy stage itself.
	res, _, err := deployer(t, c.AdminToken, "default", deploy.Options{}).Deploy(ctx, load(t, "fixtures/deploy/policy"))
	if err != nil || len(res.Findings) != 0 {
		t.Fatalf("install policy: %v %v", err, res.Findings)
	}
	ns := namespace(t, map[string]string{"tollgate.dev/policy": "enforced"})
	docs := append(load(t, "fixtures/deploy/privileged"), parse(t, "settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")...)

	// Policies take effect once the API server has loaded them (asynchronously): retry the
	// dry-run (which stores nothing) a while.
	var rejected []model.Finding
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, _, err = deployer(t, c.AdminToken, ns, deploy.Options{DryRun: true}).Deploy(ctx, docs)
		if err != nil {
			t.Fatal(err)
		}
		if rejected = findings(res, deploy.RuleRejected); len(rejected) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The real deploy does the same dry-run first and stops there.
	res, rec, err := deployer(t, c.AdminToken, ns, deploy.Options{}).Deploy(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(findings(res, deploy.RuleRejected)) != fmt.Sprint(rejected) {
		t.Errorf("the real deploy's findings %v differ from the dry-run's %v", res.Findings, rejected)
	}
	if len(rejected) != 1 {
		t.Fatalf("want one rejection, got %+v", res.Findings)
	}
	f := rejected[0]
	if f.Location.File != "fixtures/deploy/privileged/deployment.yaml" || f.Location.Line != 2 || f.Location.Resource != "Deployment/"+ns+"/privileged" ||
		f.Severity != model.SeverityCritical {
		t.Errorf("finding location/severity: %+v", f)
	}
	for _, want := range []string{"dry-run", "tollgate-deny-privileged", "privileged containers are not allowed"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message %q lacks %q", f.Message, want)
		}
	}
	if actions(rec)["Deployment/"+ns+"/privileged"] != "rejected" || actions(rec)["ConfigMap/"+ns+"/settings"] != "judged" {
		t.Errorf("actions %v", actions(rec))
	}
	if _, ok := get(t, deployGVR, ns, "privileged"); ok {
		t.Error("the rejected Deployment was stored")
	}
	if _, ok := get(t, cmGVR, ns, "settings"); ok {
		t.Error("the deploy went on after the dry-run failed: ConfigMap stored")
	}
}

// TestServerRejectsInvalidObject: an object only the server's validation refuses (selector not
// matching the template) is a finding with the server's message and the document's place.
func TestServerRejectsInvalidObject(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	res, rec, err := deployer(t, c.AdminToken, ns, deploy.Options{}).Deploy(context.Background(), load(t, "fixtures/deploy/invalid"))
	if err != nil {
		t.Fatal(err)
	}
	rej := findings(res, deploy.RuleRejected)
	if len(rej) != 1 {
		t.Fatalf("want one rejection, got %+v", res.Findings)
	}
	f := rej[0]
	if f.Location.File != "fixtures/deploy/invalid/deployment.yaml" || f.Location.Line != 10 || !strings.Contains(f.Message, "`selector` does not match template `labels`") {
		t.Errorf("finding %+v", f)
	}
	if _, ok := get(t, cmGVR, ns, "settings"); ok || actions(rec)["ConfigMap/"+ns+"/settings"] != "judged" {
		t.Error("the valid ConfigMap must be judged but not applied when another object is rejected")
	}
}

// TestUnsignedImageRefused: the verifier refuses an image: one finding per image, at the first
// document using it, and nothing reaches the server.
func TestUnsignedImageRefused(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	docs := parse(t, "app.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: "registry.example.com/shop/web:1.0"}
        - {name: side, image: "registry.example.com/shop/side:1.0"}
        - {name: ok, image: "registry.example.com/shop/signed:1.0"}
`)
	d := deployer(t, c.AdminToken, ns, deploy.Options{Verify: true})
	d.Verifier = refuse{unsigned: map[string]bool{"registry.example.com/shop/web:1.0": true, "registry.example.com/shop/side:1.0": true}}
	res, rec, err := d.Deploy(context.Background(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 2 {
		t.Fatalf("want a finding per refused image, got %+v", res.Findings)
	}
	for _, f := range res.Findings {
		if f.Stage != deploy.Name || f.RuleID != "TG-VERIFY-SIGNATURE" || f.Location.File != "app.yaml" || f.Location.Line != 1 || f.Severity != model.SeverityCritical {
			t.Errorf("finding %+v", f)
		}
	}
	if rec.ServerVersion != "" || actions(rec)["Deployment/web"] != "not-applied" { // never mapped: no namespace filled in
		t.Errorf("a refused deploy must not reach the server: %+v", rec)
	}
	if _, ok := get(t, deployGVR, ns, "web"); ok {
		t.Error("Deployment stored despite unsigned images")
	}

	// Verification off: the deploy goes ahead and the report says so loudly.
	res, _, err = deployer(t, c.AdminToken, ns, deploy.Options{Verify: false, DryRun: true}).Deploy(context.Background(), docs)
	if err != nil {
		t.Fatal(err)
	}
	off := findings(res, deploy.RuleVerifyDisabled)
	if len(off) != 1 || off[0].Severity != model.SeverityMedium || !strings.Contains(off[0].Message, "3 image(s) deployed without checking signatures") {
		t.Errorf("verification-disabled finding: %+v", res.Findings)
	}

	// Verification on and no verifier, or a verifier that cannot work: fail closed (exit 3).
	var te *model.ToolError
	if _, _, err := deployer(t, c.AdminToken, ns, deploy.Options{Verify: true}).Deploy(context.Background(), docs); !errors.As(err, &te) ||
		!strings.Contains(err.Error(), "no verifier") {
		t.Errorf("no verifier: %v", err)
	}
	d = deployer(t, c.AdminToken, ns, deploy.Options{Verify: true})
	d.Verifier = broken{}
	if _, _, err := d.Deploy(context.Background(), docs); !errors.As(err, &te) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("broken verifier: %v", err)
	}
}

// TestPinImages: the pushed digest replaces the pushed repository's references before the
// dry-run and the apply, and the verifier sees the pinned reference.
func TestPinImages(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	pushed := "registry.example.com/shop/web@sha256:" + strings.Repeat("d", 64)
	pin, err := deploy.NewPinning(pushed)
	if err != nil {
		t.Fatal(err)
	}
	docs := parse(t, "app.yaml", `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "registry.example.com/shop/web:1.0"}]
`)
	v := &acceptAll{}
	d := deployer(t, c.AdminToken, ns, deploy.Options{Verify: true, Pin: pin, Timeout: 2 * time.Second})
	d.Verifier = v
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go completeJob(ctx, t, ns, "migrate")
	res, rec, err := d.Deploy(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 || len(v.seen) != 1 || v.seen[0] != pushed || len(rec.Pinned) != 1 {
		t.Errorf("findings %v, verified %v, pinned %v", res.Findings, v.seen, rec.Pinned)
	}
	job, _ := get(t, jobGVR, ns, "migrate")
	ctrs, _, _ := unstructured.NestedSlice(job.Object, "spec", "template", "spec", "containers")
	if img := ctrs[0].(map[string]any)["image"]; img != pushed {
		t.Errorf("stored image %v, want %s", img, pushed)
	}
}

// completeJob plays the Job controller: it marks the Job complete once it exists.
func completeJob(ctx context.Context, t *testing.T, ns, name string) {
	dc := admin(t)
	for ctx.Err() == nil {
		u, err := dc.Resource(jobGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			now := time.Now().UTC().Format(time.RFC3339)
			_ = unstructured.SetNestedField(u.Object, map[string]any{
				"startTime": now, "completionTime": now, "succeeded": int64(1),
				"conditions": []any{
					map[string]any{"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now, "lastTransitionTime": now},
					map[string]any{"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now},
				},
			}, "status")
			if _, err := dc.Resource(jobGVR).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err == nil {
				return
			} else {
				t.Logf("complete job: %v", err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestRolloutTimeout: a Deployment that never becomes available is reported after
// deploy.timeout with where it stands, its conditions and its recent events. No kubelet runs:
// the test writes the status (an unavailable Deployment) and an event through the API.
func TestRolloutTimeout(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dc := admin(t)
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Event", "metadata": map[string]any{"name": "web.1", "namespace": ns},
		"involvedObject": map[string]any{"kind": "Deployment", "name": "web", "namespace": ns, "apiVersion": "apps/v1"},
		"reason":         "FailedCreate", "message": "pods \"web-1\" is forbidden: exceeded quota", "type": "Warning",
		"firstTimestamp": time.Now().UTC().Format(time.RFC3339), "lastTimestamp": time.Now().UTC().Format(time.RFC3339), "count": int64(3),
		"source": map[string]any{"component": "replicaset-controller"},
	}}
	if _, err := dc.Resource(eventGVR).Namespace(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for ctx.Err() == nil {
			u, err := dc.Resource(deployGVR).Namespace(ns).Get(ctx, "web", metav1.GetOptions{})
			if err == nil {
				_ = unstructured.SetNestedField(u.Object, map[string]any{
					"observedGeneration": u.GetGeneration(), "replicas": int64(2), "updatedReplicas": int64(2), "unavailableReplicas": int64(2),
					"conditions": []any{map[string]any{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
						"message": "Deployment does not have minimum availability."}},
				}, "status")
				if _, err := dc.Resource(deployGVR).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err == nil {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	docs := parse(t, "web.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example.com/shop/web:1.0"}]
`)
	start := time.Now()
	res, _, err := deployer(t, c.AdminToken, ns, deploy.Options{Timeout: 3 * time.Second}).Deploy(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("deploy with a 3s timeout took %s", took)
	}
	to := findings(res, deploy.RuleRolloutTimeout)
	if len(to) != 1 {
		t.Fatalf("want a rollout timeout finding, got %+v", res.Findings)
	}
	for _, want := range []string{"Deployment/" + ns + "/web", "not finished after 3s", "0 of 2 updated replicas available",
		"Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.)", "Warning FailedCreate", "exceeded quota (x3)"} {
		if !strings.Contains(to[0].Message, want) {
			t.Errorf("timeout message lacks %q:\n%s", want, to[0].Message)
		}
	}
	if to[0].Location.File != "web.yaml" || to[0].Severity != model.SeverityHigh {
		t.Errorf("finding %+v", to[0])
	}
}

// TestPrune: with prune on, objects of the ApplySet that the manifests dropped are deleted; a
// dry-run only reports them; objects Tollgate did not apply (no label, or another ApplySet's
// label) are never touched.
func TestPrune(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	ctx := context.Background()
	cm := func(name string) string {
		return "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n"
	}
	svc := "---\napiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {ports: [{port: 80}]}\n"
	opts := deploy.Options{Prune: true, ApplySet: "shop"}
	res, _, err := deployer(t, c.AdminToken, ns, opts).Deploy(ctx, parse(t, "v1.yaml", cm("a")+cm("b")+svc))
	if err != nil || len(res.Findings) != 0 {
		t.Fatalf("first deploy: %v %v", err, res.Findings)
	}
	parent, ok := get(t, cmGVR, ns, "shop")
	if !ok {
		t.Fatal("no ApplySet parent")
	}
	id := parent.GetLabels()["applyset.kubernetes.io/id"]
	ann := parent.GetAnnotations()
	if !strings.HasPrefix(id, "applyset-") || ann["applyset.kubernetes.io/contains-group-kinds"] != "ConfigMap,Service" ||
		ann["applyset.kubernetes.io/tooling"] != "tollgate/v"+model.Version {
		t.Errorf("parent labels %v annotations %v", parent.GetLabels(), ann)
	}
	if a, _ := get(t, cmGVR, ns, "a"); a.GetLabels()["applyset.kubernetes.io/part-of"] != id {
		t.Errorf("member labels %v", a.GetLabels())
	}
	// Objects Tollgate did not apply: one unlabelled, one in another ApplySet.
	for name, labels := range map[string]map[string]string{
		"foreign":      nil,
		"other-set":    {"applyset.kubernetes.io/part-of": "applyset-someoneelse-v1"},
		"not-by-label": {"app": "b"},
	} {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("ConfigMap")
		u.SetName(name)
		u.SetLabels(labels)
		if _, err := admin(t).Resource(cmGVR).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// A dry-run reports what would go and deletes nothing.
	dry := opts
	dry.DryRun = true
	res, rec, err := deployer(t, c.AdminToken, ns, dry).Deploy(ctx, parse(t, "v2.yaml", cm("a")))
	if err != nil {
		t.Fatal(err)
	}
	wantPruned := fmt.Sprint([]string{"ConfigMap/" + ns + "/b", "Service/" + ns + "/api"})
	if fmt.Sprint(rec.Pruned) != wantPruned || len(findings(res, deploy.RulePruned)) != 2 {
		t.Errorf("dry-run prune: %v, findings %v", rec.Pruned, res.Findings)
	}
	if _, ok := get(t, cmGVR, ns, "b"); !ok {
		t.Error("dry-run deleted ConfigMap b")
	}

	res, rec, err = deployer(t, c.AdminToken, ns, opts).Deploy(ctx, parse(t, "v2.yaml", cm("a")))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rec.Pruned) != wantPruned {
		t.Errorf("pruned %v, want %s", rec.Pruned, wantPruned)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, gone := range []struct {
		gvr  schema.GroupVersionResource
		name string
	}{{cmGVR, "b"}, {svcGVR, "api"}} {
		for {
			if _, ok := get(t, gone.gvr, ns, gone.name); !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s %s not pruned", gone.gvr.Resource, gone.name)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, kept := range []string{"a", "foreign", "other-set", "not-by-label"} {
		if _, ok := get(t, cmGVR, ns, kept); !ok {
			t.Errorf("ConfigMap %s was deleted", kept)
		}
	}
	if parent, _ := get(t, cmGVR, ns, "shop"); parent.GetAnnotations()["applyset.kubernetes.io/contains-group-kinds"] != "ConfigMap" {
		t.Errorf("parent not narrowed after prune: %v", parent.GetAnnotations())
	}

	// A parent name taken by something that is not a Tollgate ApplySet is refused.
	o2 := opts
	o2.ApplySet = "foreign"
	var ie *model.InputError
	if _, _, err := deployer(t, c.AdminToken, ns, o2).Deploy(ctx, parse(t, "v3.yaml", cm("x"))); !errors.As(err, &ie) {
		t.Errorf("foreign parent: %v", err)
	}
}

// TestCRDsFirst: a CRD and its custom resource in one deploy: the CRD is applied and waited for
// (Established) before the custom resource is judged and applied.
func TestCRDsFirst(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	docs := parse(t, "crd.yaml", `apiVersion: tollgate.dev/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.tollgate.dev}
spec:
  group: tollgate.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer, maximum: 10}
`)
	res, rec, err := deployer(t, c.AdminToken, ns, deploy.Options{}).Deploy(context.Background(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 {
		t.Errorf("findings %v", res.Findings)
	}
	if a := actions(rec); a["CustomResourceDefinition/widgets.tollgate.dev"] != "created" || a["Widget/"+ns+"/w1"] != "created" {
		t.Errorf("actions %v", a)
	}
	if _, ok := get(t, widgetGVR, ns, "w1"); !ok {
		t.Error("custom resource not stored")
	}
	// The CRD's schema now judges custom resources: an out-of-range one is rejected.
	res, _, err = deployer(t, c.AdminToken, ns, deploy.Options{}).Deploy(context.Background(),
		parse(t, "w2.yaml", "apiVersion: tollgate.dev/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {size: 11}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rej := findings(res, deploy.RuleRejected); len(rej) != 1 || !strings.Contains(rej[0].Message, "spec.size") {
		t.Errorf("want the CRD schema's rejection, got %+v", res.Findings)
	}
}

// TestInfrastructureErrors: an API server that refuses connections, one that never answers, and
// credentials it refuses (an expired client certificate, an unknown token) are tool errors (exit
// 3) within a bounded time, and their messages hold no credential.
func TestInfrastructureErrors(t *testing.T) {
	c := apiServer(t)
	silent, stop, err := testimage.SilentListener()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	expired, err := c.ClientCertKubeconfig("expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://127.0.0.1:1"
	tests := []struct {
		name       string
		kubeconfig []byte
		want       string
	}{
		{"connection refused", c.KubeconfigAt(closed, canaryToken), "cannot reach the API server"},
		{"never answers", c.KubeconfigAt("https://"+silent, canaryToken), "did not answer in time (limit 2s)"},
		{"expired client certificate", expired, "refused the credentials"},
		{"unknown token", c.Kubeconfig("not-a-valid-token-" + canaryToken), "refused the credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, err := deploy.Resolve(deploy.Target{Data: tt.kubeconfig, Namespace: "default"})
			if err != nil {
				t.Fatal(err)
			}
			d := &deploy.Deployer{Cluster: cl, Options: deploy.Options{RequestTimeout: 2 * time.Second}}
			start := time.Now()
			_, _, err = d.Deploy(context.Background(), parse(t, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
			took := time.Since(start)
			var te *model.ToolError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want a tool error about %q, got %v", tt.want, err)
			}
			if took > 10*time.Second {
				t.Errorf("took %s", took)
			}
			if strings.Contains(err.Error(), canaryToken) || strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error leaks a credential: %v", err)
			}
		})
	}
}

// TestServerWarningsAndFailedJob: the API server's warnings (here Pod Security admission warning
// about a workload that breaks the restricted profile) become LOW findings; a Job that fails is a
// rollout failure with its condition. No Job controller runs: the test writes the failed status.
func TestServerWarningsAndFailedJob(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, map[string]string{"pod-security.kubernetes.io/warn": "restricted"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dc := admin(t)
	go func() {
		for ctx.Err() == nil {
			u, err := dc.Resource(jobGVR).Namespace(ns).Get(ctx, "migrate", metav1.GetOptions{})
			if err == nil {
				now := time.Now().UTC().Format(time.RFC3339)
				_ = unstructured.SetNestedField(u.Object, map[string]any{
					"startTime": now, "failed": int64(1),
					"conditions": []any{
						map[string]any{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": now, "lastTransitionTime": now},
						map[string]any{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": now, "lastTransitionTime": now},
					},
				}, "status")
				_, err = dc.Resource(jobGVR).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{})
				if err == nil {
					return
				}
				t.Logf("fail job: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	docs := parse(t, "job.yaml", `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "registry.example.com/shop/web:1.0"}]
`)
	res, _, err := deployer(t, c.AdminToken, ns, deploy.Options{Timeout: 20 * time.Second}).Deploy(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	warn := findings(res, deploy.RuleServerWarning)
	if len(warn) == 0 || !strings.Contains(warn[0].Message, "would violate PodSecurity") || warn[0].Severity != model.SeverityLow || warn[0].Location.File != "job.yaml" {
		t.Errorf("want the Pod Security warning as a finding, got %+v", res.Findings)
	}
	failed := findings(res, deploy.RuleRolloutFailed)
	if len(failed) != 1 || !strings.Contains(failed[0].Message, "job failed: BackoffLimitExceeded") || !strings.Contains(failed[0].Message, "Failed=True") {
		t.Errorf("want the failed Job as a finding, got %+v", res.Findings)
	}
}
