package policy

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	psaapi "k8s.io/pod-security-admission/api"
	psa "k8s.io/pod-security-admission/policy"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// podSecurityRulePrefix starts the rule ID of a Pod Security Standards finding; the rest is the
// upstream check ID (runAsNonRoot, capabilities_restricted...).
const podSecurityRulePrefix = "PodSecurity/"

// podSecurity evaluates pod-bearing documents against the Pod Security Standards with the
// upstream checks, one finding per failing check, as a 1.25+ API server would.
type podSecurity struct {
	checks   []psa.Check
	defaults psaapi.LevelVersion
	severity model.Severity
}

func newPodSecurity(level, version string, severity model.Severity) (*podSecurity, error) {
	lv, err := parseLevelVersion(level, version)
	if err != nil {
		return nil, err
	}
	return &podSecurity{checks: psa.DefaultChecks(), defaults: lv, severity: severity}, nil
}

// parseLevelVersion reads a level and a policy version ("latest", "v1.30"; "" means latest).
func parseLevelVersion(level, version string) (psaapi.LevelVersion, error) {
	l, err := psaapi.ParseLevel(level)
	if err != nil {
		return psaapi.LevelVersion{}, fmt.Errorf("Pod Security level %q: %v", level, err)
	}
	if version == "" {
		version = "latest"
	}
	v, err := psaapi.ParseVersion(version)
	if err != nil {
		return psaapi.LevelVersion{}, fmt.Errorf("Pod Security version %q: %v", version, err)
	}
	return psaapi.LevelVersion{Level: l, Version: v}, nil
}

// selectedCheck is one upstream check in force at a level and version.
type selectedCheck struct {
	id  psa.CheckID
	fn  psa.CheckPodFn
	lvl psaapi.Level
}

// checksFor picks the checks a level and version run, the way the upstream registry does
// (policy.NewEvaluator): each check's newest revision not newer than the version; at restricted,
// every restricted check plus the baseline checks no restricted check overrides; baseline IDs
// first, each group sorted. The registry itself only returns anonymous results, and the findings
// need the check IDs.
func (p *podSecurity) checksFor(lv psaapi.LevelVersion) []selectedCheck {
	if lv.Level == psaapi.LevelPrivileged {
		return nil
	}
	pick := func(c psa.Check) (psa.VersionedCheck, bool) {
		var got psa.VersionedCheck
		found := false
		for _, vc := range c.Versions {
			if lv.Version.Latest() || !lv.Version.Older(vc.MinimumVersion) {
				got, found = vc, true
			}
		}
		return got, found
	}
	overridden := map[psa.CheckID]bool{}
	var baseline, restricted []selectedCheck
	for _, c := range p.checks {
		vc, ok := pick(c)
		if !ok {
			continue
		}
		sc := selectedCheck{id: c.ID, fn: vc.CheckPod, lvl: c.Level}
		if c.Level == psaapi.LevelRestricted {
			if lv.Level != psaapi.LevelRestricted {
				continue
			}
			restricted = append(restricted, sc)
			for _, o := range vc.OverrideCheckIDs {
				overridden[o] = true
			}
			continue
		}
		baseline = append(baseline, sc)
	}
	baseline = slices.DeleteFunc(baseline, func(s selectedCheck) bool { return overridden[s.id] })
	byID := func(a, b selectedCheck) int { return strings.Compare(string(a.id), string(b.id)) }
	slices.SortFunc(baseline, byID)
	slices.SortFunc(restricted, byID)
	return append(baseline, restricted...)
}

// podSpecPath is where a pod-bearing kind keeps its pod template (metadata + spec); nil for a Pod,
// whose metadata and spec are the object's own.
func podSpecPath(d manifest.Document) ([]string, bool) {
	switch d.Group() + "/" + d.Kind {
	case "/Pod":
		return nil, true
	case "/PodTemplate":
		return []string{"template"}, true
	case "/ReplicationController", "apps/ReplicaSet", "apps/Deployment", "apps/StatefulSet", "apps/DaemonSet",
		"extensions/ReplicaSet", "extensions/Deployment", "extensions/DaemonSet", "batch/Job":
		return []string{"spec", "template"}, true
	case "batch/CronJob":
		return []string{"spec", "jobTemplate", "spec", "template"}, true
	}
	return nil, false
}

// podTemplate decodes a pod-bearing document's pod metadata and spec into the core types the
// upstream checks take. A pod-bearing document without a template (a ReplicationController may
// omit it) yields nil. A field of the wrong type is an input error naming the document.
func podTemplate(d manifest.Document) (*corev1.PodTemplateSpec, error) {
	p, ok := podSpecPath(d)
	if !ok {
		return nil, nil
	}
	var raw map[string]any
	if p == nil {
		raw = map[string]any{"metadata": d.Object["metadata"], "spec": d.Object["spec"]}
	} else {
		cur := d.Object
		for _, k := range p {
			next, ok := cur[k].(map[string]any)
			if !ok {
				if cur[k] != nil {
					return nil, model.InputErrorf(d.File, d.Line, "%s: %s is not an object", d.Resource(), strings.Join(p, "."))
				}
				return nil, nil
			}
			cur = next
		}
		raw = cur
	}
	var tpl corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tpl); err != nil {
		return nil, model.InputErrorf(d.File, d.Line, "%s: read the pod template: %v", d.Resource(), err)
	}
	return &tpl, nil
}

// namespaceLevels reads the Pod Security level of every Namespace among the documents. A label
// with a value the API server would reject is an input error naming the Namespace's file and line.
func (p *podSecurity) namespaceLevels(docs []manifest.Document) (map[string]psaapi.LevelVersion, error) {
	defaults := psaapi.Policy{Enforce: p.defaults, Audit: p.defaults, Warn: p.defaults}
	out := map[string]psaapi.LevelVersion{}
	for _, d := range docs {
		if d.Group() != "" || d.Kind != "Namespace" {
			continue
		}
		labels := stringMap(d.Object, "metadata", "labels")
		pol, errs := psaapi.PolicyToEvaluate(labels, defaults)
		// The API server refuses a Namespace with any invalid Pod Security label.
		if len(errs) > 0 {
			return nil, model.InputErrorf(d.File, d.Line, "Namespace %s: %s", d.Name, errs.ToAggregate().Error())
		}
		out[d.Name] = pol.Enforce
	}
	return out, nil
}

// Evaluate runs the checks on every pod-bearing document at its namespace's level (the
// Namespace among the documents, else the configured default). ns names the namespace each
// document lands in (its own, or the default namespace for one without).
func (p *podSecurity) Evaluate(docs []manifest.Document, namespaceOf func(manifest.Document) string) ([]model.Finding, error) {
	levels, err := p.namespaceLevels(docs)
	if err != nil {
		return nil, err
	}
	findings := []model.Finding{}
	for _, d := range docs {
		tpl, err := podTemplate(d)
		if err != nil {
			return nil, err
		}
		if tpl == nil {
			continue
		}
		lv := p.defaults
		ns := namespaceOf(d)
		source := "the configured default (policy.pod-security)"
		if l, ok := levels[ns]; ok {
			lv = l
			source = "Namespace " + ns
		}
		for _, c := range p.checksFor(lv) {
			r := c.fn(&tpl.ObjectMeta, &tpl.Spec)
			if r.Allowed {
				continue
			}
			findings = append(findings, p.finding(d, ns, &tpl.Spec, lv, c, r, source))
		}
	}
	return findings, nil
}

func (p *podSecurity) finding(d manifest.Document, ns string, spec *corev1.PodSpec, lv psaapi.LevelVersion, c selectedCheck, r psa.CheckResult, source string) model.Finding {
	reason := r.ForbiddenReason
	if reason == "" {
		reason = psa.UnknownForbiddenReason
	}
	if r.ForbiddenDetail != "" {
		reason += " (" + r.ForbiddenDetail + ")"
	}
	// The API server's own words: a Pod is rejected, a workload admitted with a warning (its pods
	// are the ones rejected later).
	msg := fmt.Sprintf("would violate PodSecurity %q: %s", lv.String(), reason)
	if d.Kind == "Pod" {
		msg = fmt.Sprintf("pods %q is forbidden: violates PodSecurity %q: %s", d.Name, lv.String(), reason)
	}
	fx := podSecurityFixes[string(c.id)]
	f := model.Finding{
		Stage:    Name,
		RuleID:   podSecurityRulePrefix + string(c.id),
		Severity: p.severity,
		Title:    "Pod Security Standards " + string(c.lvl) + ": " + string(c.id),
		Message:  msg,
		// The namespace the object lands in, as gator's findings name it (kubectl's default for
		// objects that name none), so both kinds of finding about one object agree.
		Location: model.Location{File: d.File, Line: d.Line, Resource: resourceIn(d, ns)},
		URL:      podSecurityURL,
		Extra: map[string]string{
			"pod-security-level": lv.String(),
			"level-from":         source,
			"check":              string(c.id),
		},
	}
	if fx.podSpec != nil {
		if frag := fx.podSpec(spec); len(frag) > 0 {
			f.Fix = wrapPodSpecFix(d, frag)
		}
	}
	if fx.note != "" {
		if f.Fix != "" {
			f.Fix += "\n"
		}
		f.Fix += "# " + fx.note
	}
	return f
}

const podSecurityURL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"

// stringMap reads a map of strings at a path of an object (labels, annotations).
func stringMap(obj map[string]any, path ...string) map[string]string {
	cur := obj
	for i, k := range path {
		if i == len(path)-1 {
			m, _ := cur[k].(map[string]any)
			out := make(map[string]string, len(m))
			for k, v := range m {
				if s, ok := v.(string); ok {
					out[k] = s
				}
			}
			return out
		}
		next, ok := cur[k].(map[string]any)
		if !ok {
			return map[string]string{}
		}
		cur = next
	}
	return map[string]string{}
}

// resourceIn is Kind/namespace/name with the namespace the object is evaluated in.
func resourceIn(d manifest.Document, ns string) string {
	if ns == "" {
		return d.Resource()
	}
	return d.Kind + "/" + ns + "/" + d.Name
}
