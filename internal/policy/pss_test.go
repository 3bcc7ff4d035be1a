package policy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psa "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// TestPodSecurityMatchesUpstream: the checks Tollgate runs per level and version (to report each
// one's ID) fail exactly as the upstream evaluator does, for pods breaking every kind of rule, at
// every level and a spread of versions.
func TestPodSecurityMatchesUpstream(t *testing.T) {
	upstream, err := psa.NewEvaluator(psa.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := newPodSecurity("restricted", "latest", model.SeverityHigh)
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]corev1.PodSpec{
		"empty": {Containers: []corev1.Container{{Name: "a"}}},
		"restricted": {SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "a", SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}},
		"host": {HostNetwork: true, HostPID: true, Volumes: []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
			Containers: []corev1.Container{{Name: "a", Ports: []corev1.ContainerPort{{HostPort: 80, ContainerPort: 80}},
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}}}},
		"root": {SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(0)), Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax", Value: "1"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}},
			InitContainers: []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(false)}}},
			Containers:     []corev1.Container{{Name: "a", SecurityContext: &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)}}}},
		"volumes": {Volumes: []corev1.Volume{{Name: "n", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}}},
			Containers: []corev1.Container{{Name: "a", SecurityContext: &corev1.SecurityContext{SELinuxOptions: &corev1.SELinuxOptions{User: "root"},
				WindowsOptions: &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}}}}},
	}
	versions := []string{"latest", "v1.0", "v1.8", "v1.19", "v1.22", "v1.25", "v1.30", "v1.35", "v1.36", "v1.99"}
	ids := map[string]bool{}
	for name, spec := range pods {
		for _, level := range []string{"privileged", "baseline", "restricted"} {
			for _, v := range versions {
				lv, err := parseLevelVersion(level, v)
				if err != nil {
					t.Fatal(err)
				}
				meta := &metav1.ObjectMeta{Name: name}
				want := psa.AggregateCheckResults(upstream.EvaluatePod(lv, meta, &spec)).ForbiddenReasons
				var got []string
				for _, c := range ps.checksFor(lv) {
					if r := c.fn(meta, &spec); !r.Allowed {
						got = append(got, r.ForbiddenReason)
						ids[string(c.id)] = true
					}
				}
				if strings.Join(got, "; ") != strings.Join(want, "; ") {
					t.Errorf("%s at %s: got %q, upstream %q", name, lv, got, want)
				}
			}
		}
	}
	for _, id := range []string{"privileged", "hostNamespaces", "hostPathVolumes", "hostPorts", "capabilities_baseline", "runAsNonRoot",
		"runAsUser", "seccompProfile_baseline", "seccompProfile_restricted", "sysctls", "procMount", "restrictedVolumes",
		"seLinuxOptions", "windowsHostProcess", "allowPrivilegeEscalation", "capabilities_restricted"} {
		if !ids[id] {
			t.Errorf("no pod exercised check %s", id)
		}
	}
}

// TestPodSecurityFixes: every upstream check has a fix, and every fix names a check that exists.
func TestPodSecurityFixes(t *testing.T) {
	known := map[string]bool{}
	for _, c := range psa.DefaultChecks() {
		known[string(c.ID)] = true
		if _, ok := podSecurityFixes[string(c.ID)]; !ok {
			t.Errorf("check %s has no fix", c.ID)
		}
	}
	for id := range podSecurityFixes {
		if !known[id] {
			t.Errorf("fix for unknown check %s", id)
		}
	}
}

// TestPodSecurityLevels: the level a document is checked at comes from its Namespace's labels,
// else the configured default.
func TestPodSecurityLevels(t *testing.T) {
	docs := parseDocs(t, "app.yaml", `apiVersion: v1
kind: Namespace
metadata:
  name: lax
  labels: {pod-security.kubernetes.io/enforce: baseline, pod-security.kubernetes.io/enforce-version: v1.30}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: lax}
spec:
  containers: [{name: a, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: strict}
spec:
  containers: [{name: a, image: x}]
`)
	o := Options{PodSecurityLevel: "restricted", PodSecurityVersion: "latest", PodSecuritySeverity: model.SeverityHigh, DefaultNamespace: "default"}
	fs, err := PodSecurity(o, docs, newNamespacer("default", docs).of)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Location.Resource != "Pod/strict/p" || f.Extra["pod-security-level"] != "restricted:latest" {
			t.Fatalf("finding %+v: only the pod in the unlabelled namespace breaks its level", f)
		}
	}
	if len(fs) != 4 {
		t.Fatalf("findings = %d, want the 4 restricted checks an empty pod fails", len(fs))
	}
}

// A workload that names no namespace is judged in the default one, and its Pod Security
// findings name it there, as gator's findings about the same object do.
func TestPodSecurityResourceInDefaultNamespace(t *testing.T) {
	docs := parseDocs(t, "app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: x}]\n")
	o := Options{PodSecurityLevel: "restricted", PodSecurityVersion: "latest", PodSecuritySeverity: model.SeverityHigh, DefaultNamespace: "apps"}
	fs, err := PodSecurity(o, docs, newNamespacer("apps", docs).of)
	if err != nil || len(fs) == 0 {
		t.Fatalf("findings %v, err %v", fs, err)
	}
	for _, f := range fs {
		if f.Location.Resource != "Deployment/apps/web" {
			t.Errorf("resource %q, want Deployment/apps/web", f.Location.Resource)
		}
	}
}
