package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tollgate-dev/tollgate/internal/deploy"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/testcluster"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// The tests in this package run against a real kube-apiserver and etcd (internal/testcluster):
// one API server for the package, each test in namespaces of its own. No controller manager,
// scheduler or kubelet runs, so nothing acts on the stored objects: where a test needs a
// workload to become ready it writes the status through the API itself, as a controller would.

var (
	binaries testcluster.Binaries
	// canaryToken authenticates a second admin user; it must never appear in any output.
	canaryToken = "canary-" + testcluster.RandomToken()

	clusterOnce sync.Once
	cluster     *testcluster.Cluster
	clusterErr  error
	clusterDir  string
)

func TestMain(m *testing.M) {
	// cosign: the deploy gate verifies signatures with it (TestCosignGate).
	tools.EnsureForTests("cosign")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir(), AutoInstall: true, Progress: os.Stderr}
	var err error
	binaries, err = testcluster.Ensure(ctx, in, os.Stderr)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "deploy tests need etcd and kube-apiserver: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	if clusterDir != "" {
		os.RemoveAll(clusterDir)
	}
	os.Exit(code)
}

// apiServer returns the package's API server, started on first use.
func apiServer(t *testing.T) *testcluster.Cluster {
	t.Helper()
	clusterOnce.Do(func() {
		clusterDir, clusterErr = os.MkdirTemp("", "tollgate-apiserver-*")
		if clusterErr != nil {
			return
		}
		start := time.Now()
		cluster, clusterErr = testcluster.Start(context.Background(), binaries, clusterDir, testcluster.Options{
			Users: []testcluster.User{{Token: canaryToken, Name: "canary", Groups: []string{"system:masters"}}},
		})
		if clusterErr == nil {
			fmt.Fprintf(os.Stderr, "test API server ready in %s at %s\n", time.Since(start).Round(time.Millisecond), cluster.URL)
		}
	})
	if clusterErr != nil {
		t.Fatalf("start the test API server: %v", clusterErr)
	}
	return cluster
}

// admin is a dynamic client with the admin token, for setting up and checking the cluster.
func admin(t *testing.T) dynamic.Interface {
	t.Helper()
	c := apiServer(t)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(c.Kubeconfig(c.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	cfg.WarningHandler = rest.NoWarnings{}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

var (
	nsGVR         = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	cmGVR         = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	svcGVR        = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	eventGVR      = schema.GroupVersionResource{Version: "v1", Resource: "events"}
	deployGVR     = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	jobGVR        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	netpolGVR     = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}
	pdbGVR        = schema.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}
	crdGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	widgetGVR     = schema.GroupVersionResource{Group: "tollgate.dev", Version: "v1", Resource: "widgets"}
	vapGVR        = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	vapBindingGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
)

// namespace creates a fresh namespace for one test, with optional labels.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-") + "-" + testcluster.RandomToken()[:6]
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	ns.SetLabels(labels)
	if _, err := admin(t).Resource(nsGVR).Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// deployer returns a Deployer for the test API server that authenticates with token, puts
// objects without a namespace into ns, and logs its progress.
func deployer(t *testing.T, token, ns string, o deploy.Options) *deploy.Deployer {
	t.Helper()
	c := apiServer(t)
	cl, err := deploy.Resolve(deploy.Target{Data: c.Kubeconfig(token), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	return &deploy.Deployer{Cluster: cl, Options: o, Progress: func(m string) { t.Log(m) }}
}

func load(t *testing.T, paths ...string) []manifest.Document {
	t.Helper()
	docs, err := manifest.Load(context.Background(), paths, repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func parse(t *testing.T, name, text string) []manifest.Document {
	t.Helper()
	docs, err := manifest.Parse(name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func repoRoot(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// acceptAll is a verifier that accepts every image and remembers what it was asked.
type acceptAll struct{ seen []string }

func (a *acceptAll) VerifyImages(_ context.Context, refs []string) ([]model.Finding, error) {
	a.seen = append(a.seen, refs...)
	return nil, nil
}

// refuse is a verifier that refuses the images it lists, one finding per image, as the signing
// stage's verifier reports an image without a valid signature.
type refuse struct{ unsigned map[string]bool }

func (r refuse) VerifyImages(_ context.Context, refs []string) ([]model.Finding, error) {
	var out []model.Finding
	for _, ref := range refs {
		if r.unsigned[ref] {
			out = append(out, model.Finding{RuleID: "TG-VERIFY-SIGNATURE", Severity: model.SeverityCritical,
				Message: ref + ": no signature verifies under the configured policy", Location: model.Location{Resource: ref}})
		}
	}
	return out, nil
}

// broken is a verifier whose infrastructure fails (registry unreachable).
type broken struct{}

func (broken) VerifyImages(context.Context, []string) ([]model.Finding, error) {
	return nil, errors.New("registry.example.com: connection refused")
}

func get(t *testing.T, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, bool) {
	t.Helper()
	u, err := admin(t).Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return u, true
}

// markRolledOut plays the Deployment controller: once the Deployment exists (and whenever its
// generation moves), it writes a status saying every replica is updated and available.
func markRolledOut(ctx context.Context, t *testing.T, ns, name string) {
	dc := admin(t)
	go func() {
		for ctx.Err() == nil {
			u, err := dc.Resource(deployGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				replicas, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
				if !found {
					replicas = 1
				}
				observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
				if observed < u.GetGeneration() {
					_ = unstructured.SetNestedField(u.Object, map[string]any{
						"observedGeneration": u.GetGeneration(), "replicas": replicas, "updatedReplicas": replicas,
						"readyReplicas": replicas, "availableReplicas": replicas,
						"conditions": []any{map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
							"lastUpdateTime": time.Now().UTC().Format(time.RFC3339), "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}},
					}, "status")
					_, _ = dc.Resource(deployGVR).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{})
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
}

func findings(res *model.StageResult, rule string) []model.Finding {
	var out []model.Finding
	for _, f := range res.Findings {
		if f.RuleID == rule {
			out = append(out, f)
		}
	}
	return out
}

func actions(rec *deploy.Record) map[string]string {
	m := map[string]string{}
	for _, o := range rec.Objects {
		m[o.Resource] = o.Action
	}
	return m
}
