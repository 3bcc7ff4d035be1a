package score

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// parseDocs decodes a multi-document YAML text as the loader would, one file.
func parseDocs(t *testing.T, text string) []manifest.Document {
	t.Helper()
	docs, err := manifest.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// groupOf maps each document's kind/name to its group number.
func groupOf(docs []manifest.Document) map[string]int {
	m := map[string]int{}
	for g, idx := range groups(docs) {
		for _, i := range idx {
			m[docs[i].Kind+"/"+docs[i].Namespace+"/"+docs[i].Name] = g
		}
	}
	return m
}

// TestGroupsJoinWhatKubeScoreRelates checks each way a kube-score check looks at another object:
// the related documents must share a group, and unrelated ones stay apart (else nothing is
// gained).
func TestGroupsJoinWhatKubeScoreRelates(t *testing.T) {
	const web = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: c, image: web:1}]}
`
	const db = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db-headless
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: db:1}]}
`
	const other = `apiVersion: apps/v1
kind: Deployment
metadata: {name: other, namespace: elsewhere}
spec:
  selector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: c, image: other:1}]}
`
	tests := []struct {
		name     string
		extra    string
		together [][2]string // kind/namespace/name pairs that must share a group
		apart    [][2]string // pairs that must not
	}{
		{
			name:  "unrelated objects stay apart",
			apart: [][2]string{{"Deployment/shop/web", "StatefulSet/shop/db"}, {"Deployment/shop/web", "Deployment/elsewhere/other"}},
		},
		{
			name:     "Service selector joins the pods it matches",
			extra:    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
			together: [][2]string{{"Service/shop/web", "Deployment/shop/web"}},
			apart:    [][2]string{{"Service/shop/web", "StatefulSet/shop/db"}},
		},
		{
			name:  "a Service selector does not reach into another namespace",
			extra: "apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: elsewhere}\nspec: {selector: {tier: front}}\n",
			apart: [][2]string{{"Service/elsewhere/x", "Deployment/shop/web"}},
		},
		{
			name: "a pod template's own namespace does not count (kube-score gives it the object's)",
			extra: "apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: elsewhere}\nspec: {selector: {app: t}}\n" +
				"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: t, namespace: shop}\nspec: {template: {metadata: {namespace: elsewhere, labels: {app: t}}}}\n",
			apart: [][2]string{{"Service/elsewhere/x", "Deployment/shop/t"}},
		},
		{
			name:     "Service without a selector matches every pod of its namespace",
			extra:    "apiVersion: v1\nkind: Service\nmetadata: {name: all, namespace: shop}\nspec: {ports: [{port: 80}]}\n",
			together: [][2]string{{"Service/shop/all", "Deployment/shop/web"}, {"Service/shop/all", "StatefulSet/shop/db"}},
			apart:    [][2]string{{"Service/shop/all", "Deployment/elsewhere/other"}},
		},
		{
			name:     "an ExternalName Service still relates (kube-score's probe checks match its selector)",
			extra:    "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: shop}\nspec: {type: ExternalName, externalName: example.com, selector: {app: web}}\n",
			together: [][2]string{{"Service/shop/ext", "Deployment/shop/web"}},
		},
		{
			name:     "StatefulSet serviceName joins the Service",
			extra:    "apiVersion: v1\nkind: Service\nmetadata: {name: db-headless, namespace: shop}\nspec: {clusterIP: None, selector: {role: none}}\n",
			together: [][2]string{{"Service/shop/db-headless", "StatefulSet/shop/db"}},
		},
		{
			name:     "NetworkPolicy matchLabels",
			extra:    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: shop}\nspec: {podSelector: {matchLabels: {app: db}}}\n",
			together: [][2]string{{"NetworkPolicy/shop/np", "StatefulSet/shop/db"}},
			apart:    [][2]string{{"NetworkPolicy/shop/np", "Deployment/shop/web"}},
		},
		{
			name:     "NetworkPolicy matchExpressions In",
			extra:    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: shop}\nspec: {podSelector: {matchExpressions: [{key: app, operator: In, values: [web, db]}]}}\n",
			together: [][2]string{{"NetworkPolicy/shop/np", "StatefulSet/shop/db"}, {"NetworkPolicy/shop/np", "Deployment/shop/web"}},
			apart:    [][2]string{{"NetworkPolicy/shop/np", "Deployment/elsewhere/other"}},
		},
		{
			name:     "NetworkPolicy Exists joins every object with the key",
			extra:    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: shop}\nspec: {podSelector: {matchExpressions: [{key: tier, operator: Exists}]}}\n",
			together: [][2]string{{"NetworkPolicy/shop/np", "Deployment/shop/web"}},
			apart:    [][2]string{{"NetworkPolicy/shop/np", "StatefulSet/shop/db"}},
		},
		{
			name:     "empty podSelector joins its namespace, templates without one included",
			extra:    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}}\n",
			together: [][2]string{{"NetworkPolicy/shop/deny", "Deployment/shop/web"}, {"NetworkPolicy/shop/deny", "StatefulSet/shop/db"}},
		},
		{
			name: "a wildcard without a namespace reaches the objects without one, labelled or not",
			extra: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\nspec: {podSelector: {}}\n" +
				"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bare}\nspec: {template: {spec: {containers: [{name: c, image: x:1}]}}}\n",
			together: [][2]string{{"NetworkPolicy//deny", "Deployment//bare"}},
			apart:    [][2]string{{"NetworkPolicy//deny", "Deployment/shop/web"}},
		},
		{
			name:     "NotIn alone matches without a shared label",
			extra:    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: shop}\nspec: {podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [web]}]}}\n",
			together: [][2]string{{"NetworkPolicy/shop/np", "StatefulSet/shop/db"}},
		},
		{
			name:     "PodDisruptionBudget matches across namespaces",
			extra:    "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: pdb, namespace: elsewhere}\nspec: {minAvailable: 1, selector: {matchLabels: {app: web}}}\n",
			together: [][2]string{{"PodDisruptionBudget/elsewhere/pdb", "Deployment/shop/web"}},
			apart:    [][2]string{{"PodDisruptionBudget/elsewhere/pdb", "Deployment/elsewhere/other"}},
		},
		{
			name:     "empty PodDisruptionBudget selector joins everything",
			extra:    "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: pdb, namespace: elsewhere}\nspec: {minAvailable: 1, selector: {}}\n",
			together: [][2]string{{"PodDisruptionBudget/elsewhere/pdb", "Deployment/shop/web"}, {"Deployment/shop/web", "StatefulSet/shop/db"}},
		},
		{
			name:     "invalid PodDisruptionBudget selector joins everything (kube-score fails every budget check)",
			extra:    "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: pdb, namespace: shop}\nspec: {minAvailable: 1, selector: {matchLabels: {app: web}, matchExpressions: [{key: app, operator: Bogus}]}}\n",
			together: [][2]string{{"Deployment/shop/web", "StatefulSet/shop/db"}, {"Deployment/shop/web", "Deployment/elsewhere/other"}},
		},
		{
			name:     "HorizontalPodAutoscaler joins its target by name",
			extra:    "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: hpa, namespace: shop}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 3}\n",
			together: [][2]string{{"HorizontalPodAutoscaler/shop/hpa", "Deployment/shop/web"}},
			apart:    [][2]string{{"HorizontalPodAutoscaler/shop/hpa", "StatefulSet/shop/db"}},
		},
		{
			name:  "a name in another namespace is another object",
			extra: "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: hpa, namespace: elsewhere}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 3}\n",
			apart: [][2]string{{"HorizontalPodAutoscaler/elsewhere/hpa", "Deployment/shop/web"}},
		},
		{
			name: "Ingress joins its backend Services",
			extra: "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: in, namespace: shop}\nspec: {rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]}\n" +
				"---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {selector: {app: nothing}}\n",
			together: [][2]string{{"Ingress/shop/in", "Service/shop/web"}},
			apart:    [][2]string{{"Ingress/shop/in", "StatefulSet/shop/db"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := web + "---\n" + db + "---\n" + other
			if tc.extra != "" {
				text += "---\n" + tc.extra
			}
			g := groupOf(parseDocs(t, text))
			check := func(pairs [][2]string, same bool) {
				for _, p := range pairs {
					a, ok1 := g[p[0]]
					b, ok2 := g[p[1]]
					if !ok1 || !ok2 {
						t.Fatalf("no document %s or %s in %v", p[0], p[1], g)
					}
					if (a == b) != same {
						t.Errorf("%s and %s: same group = %v, want %v (groups %v)", p[0], p[1], a == b, same, g)
					}
				}
			}
			check(tc.together, true)
			check(tc.apart, false)
		})
	}
}

// TestSplitBalances checks that split keeps every document once, in order within each part,
// and balances the parts.
func TestSplitBalances(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d}\nspec: {selector: {app: a%d}}\n", i, i)
	}
	docs := parseDocs(t, b.String())
	if got := split(docs[:splitMin-1], 4); len(got) != 1 {
		t.Errorf("%d documents made %d parts, want 1 (too few to split)", splitMin-1, len(got))
	}
	if got := split(docs, 1); len(got) != 1 {
		t.Errorf("one process made %d parts", len(got))
	}
	parts := split(docs, 2)
	if len(parts) != 2 {
		t.Fatalf("100 unrelated documents on 2 processes made %d parts", len(parts))
	}
	seen := map[string]bool{}
	for _, p := range parts {
		if n := len(p); n < 40 || n > 60 {
			t.Errorf("unbalanced: a part of %d documents", n)
		}
		for i, d := range p {
			if seen[d.Name] {
				t.Errorf("%s in two parts", d.Name)
			}
			seen[d.Name] = true
			if i > 0 && p[i-1].Index >= d.Index {
				t.Errorf("part out of order at %s", d.Name)
			}
		}
	}
	if len(seen) != len(docs) {
		t.Errorf("%d of %d documents kept", len(seen), len(docs))
	}
}

// randomTree writes a project of random manifests in which the objects kube-score relates
// (selectors, names) cross between apps and namespaces, with the occasional selector that
// matches a whole namespace. It returns the project root.
func randomTree(t *testing.T, seed uint64) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 14))
	root := t.TempDir()
	const apps = 36
	nss := []string{"", "shop", "ops"}
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	meta := func(name, ns string) string {
		if ns == "" {
			return fmt.Sprintf("{name: %s}", name)
		}
		return fmt.Sprintf("{name: %s, namespace: %s}", name, ns)
	}
	app := func() string { return fmt.Sprintf("a%d", r.IntN(apps)) }
	link := func(a string) string { // mostly its own app, sometimes another
		if r.IntN(8) == 0 {
			return app()
		}
		return a
	}
	for i := range apps {
		a := fmt.Sprintf("a%d", i)
		ns := nss[r.IntN(len(nss))]
		tier := pick("web", "db", "batch")
		var docs []string
		tmplNS := ""
		if r.IntN(6) == 0 {
			tmplNS = ", namespace: " + pick("shop", "ops")
		}
		switch r.IntN(4) {
		case 0, 1:
			docs = append(docs, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: %s
spec:
  replicas: %d
  strategy: {type: %s}
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s, tier: %s}%s}
    spec:
      containers:
      - name: c
        image: registry.example.com/%s:1.0
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: http}}
`, meta(a, ns), r.IntN(4), pick("RollingUpdate", "Recreate"), a, a, tier, tmplNS, a))
		case 2:
			docs = append(docs, fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata: %s
spec:
  serviceName: %s-hl
  replicas: %d
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s, tier: %s}}
    spec: {containers: [{name: c, image: "registry.example.com/%s:2"}]}
`, meta(a, ns), link(a), r.IntN(3)+1, a, a, tier, a))
		case 3:
			docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s%s, labels: {app: %s, tier: %s}}
spec: {containers: [{name: c, image: "registry.example.com/%s:latest"}]}
`, a, map[bool]string{true: ", namespace: " + ns, false: ""}[ns != ""], a, tier, a))
		}
		if r.IntN(3) > 0 {
			sel := fmt.Sprintf("{app: %s}", link(a))
			svcType := pick("ClusterIP", "ClusterIP", "NodePort")
			svcNS := pick(ns, ns, "")
			if r.IntN(60) == 0 {
				// A selector matching every pod of a namespace: not the empty one, which
				// joins every pod template (theirs have no namespace), so the tree still splits.
				sel, svcNS = "{}", pick("shop", "ops")
			}
			if r.IntN(20) == 0 {
				svcType = "ExternalName"
			}
			docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: %s\nspec: {type: %s, selector: %s, ports: [{name: http, port: 80}]}\n",
				meta(a, svcNS), svcType, sel))
		}
		if r.IntN(3) == 0 {
			docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: %s\nspec: {clusterIP: None, selector: {app: %s}}\n", meta(a+"-hl", ns), link(a)))
		}
		if r.IntN(2) == 0 {
			sel := fmt.Sprintf("{matchLabels: {app: %s}}", link(a))
			npNS := pick(ns, ns, "shop")
			switch r.IntN(48) {
			case 0:
				sel, npNS = "{}", pick("shop", "ops") // as for Services above
			case 1:
				sel = "{matchExpressions: [{key: tier, operator: Exists}]}"
			case 2:
				sel, npNS = fmt.Sprintf("{matchExpressions: [{key: app, operator: NotIn, values: [%s]}]}", a), pick("shop", "ops")
			case 3, 4, 5:
				sel = fmt.Sprintf("{matchExpressions: [{key: app, operator: In, values: [%s, %s]}]}", a, app())
			case 6:
				sel = fmt.Sprintf("{matchLabels: {tier: %s}}", tier)
			}
			docs = append(docs, fmt.Sprintf("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: %s\nspec: {podSelector: %s, policyTypes: [%s]}\n",
				meta(a, npNS), sel, pick("Ingress", "Egress", "Ingress, Egress")))
		}
		if r.IntN(3) == 0 {
			docs = append(docs, fmt.Sprintf("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: %s\nspec: {minAvailable: 1, selector: {matchLabels: {app: %s}}}\n",
				meta(a, pick(ns, ns, "ops")), link(a)))
		}
		if r.IntN(3) == 0 {
			docs = append(docs, fmt.Sprintf("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: %s\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: %s, name: %s}, minReplicas: %d, maxReplicas: 5}\n",
				meta(a, ns), pick("Deployment", "StatefulSet"), link(a), r.IntN(3)+1))
		}
		if r.IntN(5) == 0 {
			docs = append(docs, fmt.Sprintf("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: %s\nspec: {rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: %s, port: {%s}}}}]}}]}\n",
				meta(a, ns), link(a), pick("number: 80", "name: http", "number: 81")))
		}
		if r.IntN(5) == 0 {
			docs = append(docs, fmt.Sprintf(`apiVersion: batch/v1
kind: CronJob
metadata: %s
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: %s, tier: batch}}
        spec: {restartPolicy: Never, containers: [{name: c, image: "registry.example.com/%s:3"}]}
`, meta(a+"-job", ns), a, a))
		}
		if i == 5 && seed%3 == 0 { // a document kube-score cannot decode: found by halving in both
			docs = append(docs, fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: %s\nspec: {template: {spec: {containers: [{name: c, image: x:1, ports: [{containerPort: eighty}]}]}}}\n", meta(a+"-bad", ns)))
		}
		dir := filepath.Join(root, "apps", a)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if r.IntN(2) == 0 { // one file per object, or all in one
			for j, d := range docs {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.yaml", j)), []byte(d), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		} else if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestSplitScoresAsOneRun is the proof that splitting is safe: on random trees whose objects
// relate across apps and namespaces, the real kube-score run as several processes on the sets
// split finds exactly what one process finds on everything.
func TestSplitScoresAsOneRun(t *testing.T) {
	bin := kubeScore(t)
	o := OptionsFrom(config.Default())
	for seed := range uint64(12) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			root := randomTree(t, seed)
			docs, err := manifest.Load(context.Background(), []string{"apps"}, root)
			if err != nil {
				t.Fatal(err)
			}
			var scored []manifest.Document
			for _, d := range docs {
				if scoredKinds[d.APIVersion+"/"+d.Kind] {
					scored = append(scored, d)
				}
			}
			if n := len(split(scored, 4)); n < 2 {
				t.Fatalf("%d documents were not split (%d part): the test proves nothing", len(scored), n)
			}
			one, err := Runner{Binary: bin, Root: root}.Score(context.Background(), o, docs)
			if err != nil {
				t.Fatal(err)
			}
			many, err := Runner{Binary: bin, Root: root, Parallel: 4}.Score(context.Background(), o, docs)
			if err != nil {
				t.Fatal(err)
			}
			if len(one.Findings) == 0 {
				t.Fatal("no findings: the test proves nothing")
			}
			if _, ok := ruleIDs(one.Findings)[RuleUnscored]; ok != (seed%3 == 0) {
				t.Errorf("unscored document found: %v, want %v", ok, seed%3 == 0)
			}
			if !reflect.DeepEqual(one.Findings, many.Findings) {
				diff(t, one.Findings, many.Findings)
			}
			if !reflect.DeepEqual(one.Rules, many.Rules) {
				t.Errorf("rules differ:\none run: %v\nsplit:   %v", one.Rules, many.Rules)
			}
		})
	}
}

// diff reports the findings only one side has.
func diff[T any](t *testing.T, one, many []T) {
	t.Helper()
	key := func(f T) string { return fmt.Sprintf("%+v", f) }
	in := map[string]int{}
	for _, f := range one {
		in[key(f)]++
	}
	for _, f := range many {
		in[key(f)]--
	}
	n := 0
	for k, c := range in {
		if c != 0 && n < 10 {
			side := "one run only"
			if c < 0 {
				side = "split only"
			}
			t.Errorf("%s: %s", side, k)
			n++
		}
	}
	if n == 0 {
		t.Errorf("same findings in another order")
	}
}

// TestSplitFailsClosed checks that a kube-score failure in any of the parallel runs fails the
// stage with a tool error, as one run would.
func TestSplitFailsClosed(t *testing.T) {
	root := randomTree(t, 1)
	docs, err := manifest.Load(context.Background(), []string{"apps"}, root)
	if err != nil {
		t.Fatal(err)
	}
	// Fails only for the run that reads the first app's files: the other runs succeed.
	crash := fakeTool(t, `for a in "$@"; do case "$a" in */apps/a0/*) echo 'panic: boom' >&2; exit 2;; esac; done; exec `+kubeScore(t)+` "$@"`)
	o := OptionsFrom(config.Default())
	_, err = Runner{Binary: crash, Root: root, Parallel: 4}.Score(context.Background(), o, docs)
	var te *model.ToolError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "exited with code 2") {
		t.Fatalf("got %v, want a tool error for the crashed run", err)
	}
}

// TestMessagesAreStable checks that a finding's message does not depend on kube-score's map
// order: label-values walks the labels map, and a message that changed from run to run made
// the same finding twice (once per run when objects are split over runs) and a new cache entry.
func TestMessagesAreStable(t *testing.T) {
	text := `apiVersion: v1
kind: Pod
metadata:
  name: labelled
  labels: {a: "bad value", b: "bad value", c: "bad value", d: "bad value", e: "bad value"}
spec: {containers: [{name: c, image: "registry.example.com/x:1"}]}
`
	docs := parseDocs(t, text)
	var first string
	for i := range 6 {
		res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(config.Default()), docs)
		if err != nil {
			t.Fatal(err)
		}
		msg := ""
		for _, f := range res.Findings {
			if f.RuleID == "label-values" {
				msg = f.Message
			}
		}
		if !strings.HasPrefix(msg, "label a: Invalid label value. label b:") {
			t.Fatalf("label-values message %q, want the labels in order, each called a label", msg)
		}
		if i == 0 {
			first = msg
		} else if msg != first {
			t.Fatalf("run %d: message %q, first run %q", i+1, msg, first)
		}
	}
}

// TestGroupsReviewedForThePin fails when the kube-score pin moves: groups encodes which objects
// v1.20.0's checks relate, and a new version may relate others (read score/*.Register, update
// groups and its table test, then groupsReviewedFor).
func TestGroupsReviewedForThePin(t *testing.T) {
	if v := Tool().Version; v != groupsReviewedFor {
		t.Fatalf("kube-score is pinned at %s, groups was reviewed for %s", v, groupsReviewedFor)
	}
}
