package policy

import (
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// A privileged Deployment, otherwise clean, templated by namespace and name.
func privileged(ns, name string) string {
	nsLine := ""
	if ns != "" {
		nsLine = "\n  namespace: " + ns
	}
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + nsLine + `
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/app:1.0.0
          securityContext: {privileged: true}
`
}

// onlyLibrary keeps one library constraint (plus any given) and turns PSS off, so a test sees the
// semantics it is about and nothing else.
func onlyLibrary(keep ...string) *config.Config {
	cfg := config.Default()
	cfg.Policy.PodSecurity.Level = "privileged"
	lib, _ := LoadLibrary()
	s, _ := NewSet(lib, nil, nil)
	for _, c := range s.Constraints {
		found := false
		for _, k := range keep {
			found = found || c.Name == k
		}
		if !found {
			cfg.Policy.Disabled = append(cfg.Policy.Disabled, c.Name)
		}
	}
	return cfg
}

func findingsOf(res *model.StageResult) []string {
	var out []string
	for _, f := range res.Findings {
		s := f.RuleID + " " + f.Location.Resource
		if f.Suppression != nil {
			s += " (" + f.Extra["enforcementAction"] + ")"
		}
		out = append(out, s)
	}
	return out
}

// TestScopedEnforcementActions: Tollgate judges as the admission webhook would. gator only
// evaluates scoped constraints that name its own enforcement point, so the webhook's actions
// (validation.gatekeeper.sh, or *) are given to gator too; a constraint scoped to audit alone
// does not block admission and produces nothing here.
func TestScopedEnforcementActions(t *testing.T) {
	docs := parseDocs(t, "app.yaml", privileged("shop", "web"))
	scoped := func(actions string) string {
		return `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sTGNoPrivileged
metadata:
  name: scoped-privileged
spec:
  enforcementAction: scoped
  scopedEnforcementActions:
` + actions
	}
	cases := []struct{ name, actions, want string }{
		{"webhook deny", "    - action: deny\n      enforcementPoints: [{name: validation.gatekeeper.sh}]\n", "K8sTGNoPrivileged/scoped-privileged Deployment/shop/web"},
		{"all points warn", "    - action: warn\n      enforcementPoints: [{name: \"*\"}]\n", "K8sTGNoPrivileged/scoped-privileged Deployment/shop/web (warn)"},
		{"audit only", "    - action: deny\n      enforcementPoints: [{name: audit.gatekeeper.sh}]\n", ""},
		{"gator named", "    - action: deny\n      enforcementPoints: [{name: validation.gatekeeper.sh}]\n    - action: dryrun\n      enforcementPoints: [{name: gator.gatekeeper.sh}]\n",
			"K8sTGNoPrivileged/scoped-privileged Deployment/shop/web (dryrun)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := checkDocs(t, onlyLibrary(), docs, parseDocs(t, "scoped.yaml", scoped(c.actions))...)
			if got := strings.Join(findingsOf(res), "\n"); got != c.want {
				t.Fatalf("findings = %q, want %q", got, c.want)
			}
		})
	}
}

// TestNamespaceSelector: a constraint's namespaceSelector is matched against the Namespaces among
// the manifests; an object whose Namespace is missing is rejected, as Gatekeeper does (fail closed).
func TestNamespaceSelector(t *testing.T) {
	docs := parseDocs(t, "app.yaml", `apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: dev, labels: {env: dev}}
---
`+privileged("prod", "web")+"---\n"+privileged("dev", "web"))
	selector := parseDocs(t, "prod-only.yaml", `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sTGNoPrivileged
metadata:
  name: prod-privileged
spec:
  match:
    kinds: [{apiGroups: [apps], kinds: [Deployment]}]
    namespaceSelector:
      matchLabels: {env: prod}
`)
	res := checkDocs(t, onlyLibrary(), docs, selector...)
	if got := strings.Join(findingsOf(res), "\n"); got != "K8sTGNoPrivileged/prod-privileged Deployment/prod/web" {
		t.Fatalf("findings = %q, want the prod Deployment only", got)
	}
	res = checkDocs(t, onlyLibrary(), parseDocs(t, "qa.yaml", privileged("qa", "web")), selector...)
	if len(res.Findings) != 1 || !strings.Contains(res.Findings[0].Message, "needs the object's Namespace among the manifests") {
		t.Fatalf("findings = %+v, want a rejection naming the missing Namespace", res.Findings)
	}
}

// TestDefaultNamespace: documents without a namespace land in the default one, as kubectl apply
// puts them, so referential policies see them together.
func TestDefaultNamespace(t *testing.T) {
	app := privileged("", "web")
	deny := "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: default-deny}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"
	cfg := onlyLibrary("tg-default-deny-network-policy", "tg-no-privileged")
	res := checkDocs(t, cfg, parseDocs(t, "app.yaml", app+deny))
	if got := strings.Join(findingsOf(res), "\n"); got != "K8sTGNoPrivileged/tg-no-privileged Deployment/default/web" {
		t.Fatalf("findings = %q", got)
	}
	cfg.Policy.DefaultNamespace = "apps"
	res = checkDocs(t, cfg, parseDocs(t, "app.yaml", app))
	if got := strings.Join(findingsOf(res), "\n"); !strings.Contains(got, "K8sTGDefaultDenyNetworkPolicy/tg-default-deny-network-policy Deployment/apps/web") {
		t.Fatalf("findings = %q", got)
	}
}

// TestReferentialFromManifests: the manifests are the inventory; a RoleBinding among them grants
// the service account API access, so its token may be mounted.
func TestReferentialFromManifests(t *testing.T) {
	app := strings.Replace(privileged("shop", "web"), "      containers:", "      serviceAccountName: web\n      containers:", 1)
	rb := "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: web, namespace: shop}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\nsubjects: [{kind: ServiceAccount, name: web}]\n"
	cfg := onlyLibrary("tg-no-automount-token")
	if res := checkDocs(t, cfg, parseDocs(t, "app.yaml", app)); len(res.Findings) != 1 {
		t.Fatalf("without a binding: %v", findingsOf(res))
	}
	if res := checkDocs(t, cfg, parseDocs(t, "app.yaml", app+rb)); len(res.Findings) != 0 {
		t.Fatalf("with a binding: %v", findingsOf(res))
	}
}

// TestSameNameDocuments: two documents with the same kind, namespace and name (two overlays in
// one set) are told apart by content; each finding points at its own document.
func TestSameNameDocuments(t *testing.T) {
	clean := strings.Replace(privileged("shop", "web"), "privileged: true", "privileged: false", 1)
	docs := parseDocs(t, "app.yaml", clean+"---\n"+privileged("shop", "web"))
	res := checkDocs(t, onlyLibrary("tg-no-privileged"), docs)
	if len(res.Findings) != 1 || res.Findings[0].Location.Line != docs[1].Line {
		t.Fatalf("findings = %+v, want one at line %d", res.Findings, docs[1].Line)
	}
}

// TestCELTemplate: gator's K8sNativeValidation (CEL) engine is on; a user's CEL template works
// beside the Rego library, and policies among the manifests take effect too.
func TestCELTemplate(t *testing.T) {
	cel := parseDocs(t, "cel.yaml", `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8snolatest
spec:
  crd:
    spec:
      names:
        kind: K8sNoLatest
  targets:
    - target: admission.k8s.gatekeeper.sh
      code:
        - engine: K8sNativeValidation
          source:
            validations:
              - expression: "object.spec.template.spec.containers.all(c, !c.image.endsWith(':latest'))"
                message: "an image uses the latest tag"
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sNoLatest
metadata:
  name: no-latest
spec:
  match:
    kinds: [{apiGroups: [apps], kinds: [Deployment]}]
`)
	app := strings.Replace(privileged("shop", "web"), "app:1.0.0", "app:latest", 1)
	docs := parseDocs(t, "app.yaml", app)
	res := checkDocs(t, onlyLibrary("tg-no-privileged"), docs, cel...)
	want := "K8sNoLatest/no-latest Deployment/shop/web\nK8sTGNoPrivileged/tg-no-privileged Deployment/shop/web"
	if got := strings.Join(findingsOf(res), "\n"); got != want {
		t.Fatalf("findings = %q, want %q", got, want)
	}
	// The same template and constraint shipped among the manifests.
	docs = parseDocs(t, "app.yaml", app+"---\n"+string(cel[0].Raw)+"---\n"+string(cel[1].Raw))
	res = checkDocs(t, onlyLibrary("tg-no-privileged"), docs)
	if got := strings.Join(findingsOf(res), "\n"); got != want {
		t.Fatalf("policies among the manifests: findings = %q, want %q", got, want)
	}
}

// TestMatch: namespaces, excludedNamespaces and labelSelector select what a constraint judges, as
// in a cluster.
func TestMatch(t *testing.T) {
	labelled := strings.Replace(privileged("prod", "api"), "  name: api", "  name: api\n  labels: {tier: frontend}", 1)
	docs := parseDocs(t, "app.yaml", privileged("prod", "web")+"---\n"+privileged("dev", "web")+"---\n"+labelled)
	constraint := func(match string) []manifest.Document {
		return parseDocs(t, "c.yaml", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sTGNoPrivileged\nmetadata:\n  name: matched\nspec:\n  match:\n"+match)
	}
	cases := []struct{ name, match, want string }{
		{"namespaces", "    namespaces: [dev]\n", "Deployment/dev/web"},
		{"excludedNamespaces", "    excludedNamespaces: [prod]\n", "Deployment/dev/web"},
		{"labelSelector", "    labelSelector: {matchLabels: {tier: frontend}}\n", "Deployment/prod/api"},
		{"kinds", "    kinds: [{apiGroups: [batch], kinds: [Job]}]\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := checkDocs(t, onlyLibrary(), docs, constraint(c.match)...)
			var got []string
			for _, f := range res.Findings {
				got = append(got, f.Location.Resource)
			}
			if strings.Join(got, " ") != c.want {
				t.Fatalf("findings on %q, want %q", got, c.want)
			}
		})
	}
}
