package manifest

import (
	"fmt"
	"path"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Skip is an input a walk passed over, and why: a YAML or JSON file that is not a Kubernetes
// manifest, a Helm chart helm could not render, a kustomize component nothing uses. Stages
// report each as one non-blocking note, so nothing is passed over silently.
type Skip struct {
	File   string // slash path relative to the project root (a file, never a directory)
	Line   int    // 1-based
	Reason string
}

// Errors is every bad input a walk met (each file, and each bad document in it), in walk
// order, so one run reports them all. errors.As finds the first *model.InputError.
type Errors []*model.InputError

func (e Errors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad inputs:", len(e))
	for _, ie := range e {
		b.WriteString("\n  " + ie.Error())
	}
	return b.String()
}

// Unwrap lets errors.As and errors.Is see every error.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, ie := range e {
		out[i] = ie
	}
	return out
}

// err returns nil, the single error, or e.
func (e Errors) err() error {
	switch len(e) {
	case 0:
		return nil
	case 1:
		return e[0]
	}
	return e
}

// knownFile recognises, by name, files that are YAML or JSON but never Kubernetes manifests,
// so a walk skips them without parsing (some are templates or JSON with comments that would
// not even parse). rel is the slash path of the file.
func knownFile(rel string) (string, bool) {
	base := strings.ToLower(path.Base(rel))
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	yamlExt := ext == ".yaml" || ext == ".yml"
	switch {
	case base == "chart.yaml" || base == "chart.lock":
		return "Helm chart metadata, not a manifest: Tollgate renders a chart directory with `helm template` (name the chart's directory in validate.paths)", true
	case yamlExt && (stem == "values" || strings.HasPrefix(stem, "values-") || strings.HasPrefix(stem, "values.") ||
		strings.HasSuffix(stem, "-values") || strings.HasSuffix(stem, ".values") || strings.HasSuffix(stem, "_values")):
		return "Helm values, not a manifest", true
	case yamlExt && (stem == "compose" || strings.HasPrefix(stem, "compose.") || strings.HasPrefix(stem, "docker-compose") || strings.HasSuffix(stem, ".compose")):
		return "a Docker Compose file, not a Kubernetes manifest", true
	case yamlExt && strings.HasPrefix(stem, "skaffold"):
		return "a Skaffold config, not a Kubernetes manifest", true
	case (yamlExt || ext == ".json") && strings.HasPrefix(stem, "cloudbuild"):
		return "a Google Cloud Build config, not a Kubernetes manifest", true
	case yamlExt && strings.HasPrefix(stem, "helmfile"):
		return "a helmfile, not a Kubernetes manifest", true
	case base == ".gitlab-ci.yml" || base == ".gitlab-ci.yaml" || strings.HasSuffix(base, ".gitlab-ci.yml"),
		strings.Contains(rel, ".github/workflows/") || strings.Contains(rel, ".gitea/workflows/"),
		strings.HasPrefix(stem, "azure-pipelines") && yamlExt, base == "bitbucket-pipelines.yml",
		base == ".travis.yml", base == "appveyor.yml", base == ".drone.yml", strings.HasPrefix(stem, "buildspec") && yamlExt,
		strings.Contains(rel, ".circleci/"), base == "codecov.yml", base == ".pre-commit-config.yaml":
		return "a CI config, not a Kubernetes manifest", true
	case base == "catalog-info.yaml":
		return "a Backstage catalog entry, not a Kubernetes manifest", true
	case ext == ".json" && (strings.HasPrefix(stem, "tsconfig") || strings.HasPrefix(stem, "jsconfig") ||
		stem == "package" || stem == "package-lock" || stem == "composer" || stem == "renovate" ||
		strings.HasPrefix(stem, ".eslintrc") || strings.HasPrefix(stem, "appsettings") || stem == "launchsettings" ||
		stem == "devcontainer" || stem == "global" || stem == "lerna" || stem == "nx" || stem == "turbo"):
		return "a tool or package config, not a Kubernetes manifest", true
	}
	return "", false
}

// configGroups are API groups whose objects are configuration files of tools, not resources
// of a cluster: they have apiVersion and kind but no API server serves them.
var configGroups = []struct{ prefix, what string }{
	{"skaffold/", "a Skaffold config"},
	{"kustomize.config.k8s.io/", "a kustomization, rendered from its directory"},
	{"kind.x-k8s.io/", "a kind cluster config"},
	{"kpt.dev/", "a kpt package file"},
	{"kubeadm.k8s.io/", "a kubeadm config"},
	{"k3d.io/", "a k3d cluster config"},
	{"ctlptl.dev/", "a ctlptl config"},
	{"backstage.io/", "a Backstage catalog entry"},
	{"audit.k8s.io/", "an API server audit policy"},
	{"clientauthentication.k8s.io/", "a client credential plugin config"},
	{"config.kubernetes.io/", "a KRM function config"},
	{"helm.toolkit.fluxcd.io/", ""}, // a real custom resource (HelmRelease): never skipped
}

// configFormat recognises, by apiVersion and kind, documents that are tool configuration
// rather than cluster resources.
func configFormat(apiVersion, kind string) (string, bool) {
	if apiVersion == "v1" && kind == "Config" {
		return "a kubeconfig, not a resource (it may hold credentials: keep it out of the repository)", true
	}
	group, _, _ := strings.Cut(apiVersion, "/")
	if strings.HasSuffix(group, ".config.k8s.io") && group != "kustomize.config.k8s.io" {
		return fmt.Sprintf("a Kubernetes component config (%s %s), not a resource", apiVersion, kind), true
	}
	for _, g := range configGroups {
		if strings.HasPrefix(apiVersion, g.prefix) {
			if g.what == "" {
				return "", false
			}
			return fmt.Sprintf("%s (%s %s), not a Kubernetes resource", g.what, apiVersion, kind), true
		}
	}
	return "", false
}

// RuleSkipped is the rule of the note a stage reports for each input a walk passed over.
const RuleSkipped = "K8S-NOT-CHECKED"

// SkippedRule describes RuleSkipped for reports.
func SkippedRule() model.Rule {
	return model.Rule{ID: RuleSkipped, Name: "input not checked", Severity: model.SeverityInfo,
		Summary: "A YAML or JSON file that is not a Kubernetes manifest (compose, CI, Helm values...), or a chart or component that could not be rendered, was passed over.",
		Fix:     "Nothing, if the file is not meant for the cluster; otherwise see the message (render the chart, fix apiVersion and kind)."}
}

// SkipFindings turns a walk's skips into notes of a stage: INFO, never blocking.
func SkipFindings(stage string, skips []Skip) []model.Finding {
	r := SkippedRule()
	out := make([]model.Finding, 0, len(skips))
	for _, s := range skips {
		out = append(out, model.Finding{Stage: stage, RuleID: r.ID, Severity: r.Severity, Title: r.Name,
			Message: "not checked: " + s.Reason, Location: model.Location{File: s.File, Line: max(s.Line, 1)}, Note: true})
	}
	return out
}

// MergeFindings reports once what several rendered objects share: objects rendered from one
// source (a base under two overlays, a template in a loop) map to the same file and line, and
// a problem there is one problem. The first finding stays; the other objects' names go to
// Extra["resources"].
func MergeFindings(fs []model.Finding) []model.Finding {
	type key struct {
		stage, rule, file, msg string
		line                   int
	}
	first := map[key]int{}
	var out []model.Finding
	for _, f := range fs {
		k := key{f.Stage, f.RuleID, f.Location.File, f.Message, f.Location.Line}
		i, dup := first[k]
		if !dup || f.Location.File == "" {
			first[k] = len(out)
			out = append(out, f)
			continue
		}
		if f.Location.Resource == "" || f.Location.Resource == out[i].Location.Resource {
			continue
		}
		prev := &out[i]
		extra := map[string]string{}
		for k, v := range prev.Extra {
			extra[k] = v
		}
		also := extra["resources"]
		if also == "" {
			also = prev.Location.Resource
		}
		if !strings.Contains(","+also+",", ","+f.Location.Resource+",") {
			also += "," + f.Location.Resource
		}
		extra["resources"] = also
		prev.Extra = extra
	}
	return out
}
