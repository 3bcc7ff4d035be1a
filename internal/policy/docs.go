package policy

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psa "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
)

// PoliciesMarkdown renders docs/policies.md from the library and the upstream Pod Security checks,
// so the docs cannot drift from the policies (a test compares the file with this output).
func PoliciesMarkdown() ([]byte, error) {
	lib, err := LoadLibrary()
	if err != nil {
		return nil, err
	}
	s, err := NewSet(lib, nil, nil)
	if err != nil {
		return nil, err
	}
	tpl := map[string]Template{}
	for _, t := range s.Templates {
		tpl[t.Kind] = t
	}
	var b bytes.Buffer
	b.WriteString("# Policies\n\n")
	b.WriteString("<!-- Generated from policies/ and k8s.io/pod-security-admission (PoliciesMarkdown). Do not edit:\n")
	b.WriteString("     run `UPDATE_GOLDEN=1 go test ./internal/policy -run TestPoliciesDoc` after changing a policy. -->\n\n")
	b.WriteString(docIntro)
	b.WriteString("| constraint | enforces | kinds |\n|---|---|---|\n")
	for _, c := range s.Constraints {
		t := tpl[c.Kind]
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s |\n", c.Name, c.Name, annotation(t.Doc, annotationTitle, c.Kind), strings.Join(matchedKinds(c), ", "))
	}
	for _, c := range s.Constraints {
		t := tpl[c.Kind]
		fmt.Fprintf(&b, "\n### %s\n\n", c.Name)
		fmt.Fprintf(&b, "**%s** · `%s` · rule `%s` · template [`policies/templates/%s.yaml`](../policies/templates/%s.yaml)\n\n",
			annotation(t.Doc, annotationTitle, c.Kind), c.Kind, c.ID(), c.Name, c.Name)
		fmt.Fprintf(&b, "%s\n\n", oneLine(annotation(t.Doc, annotationSummary, "")))
		fmt.Fprintf(&b, "Kinds: %s.\n\n", strings.Join(matchedKinds(c), ", "))
		params, _ := nested(c.Doc.Object, "spec", "parameters").(map[string]any)
		if len(params) > 0 {
			fmt.Fprintf(&b, "Parameters (defaults):\n\n```yaml\n%s\n```\n\n", renderYAML(params))
		}
		fmt.Fprintf(&b, "Fix (findings carry the concrete YAML for the resource):\n\n```yaml\n%s\n```\n\n", strings.TrimRight(annotation(t.Doc, annotationFix, ""), "\n"))
		fmt.Fprintf(&b, "Opt out: `policy.disabled: [%s]`, or report without blocking with\n`policy.constraints.%s.enforcement-action: warn`", c.Name, c.Name)
		if len(params) > 0 {
			keys := make([]string, 0, len(params))
			for k := range params {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			fmt.Fprintf(&b, ", or change `policy.constraints.%s.parameters.%s`", c.Name, keys[0])
		}
		b.WriteString(".\n")
	}
	b.WriteString(docPodSecurity)
	b.WriteString("| check | level | fix |\n|---|---|---|\n")
	checks := psa.DefaultChecks()
	slices.SortFunc(checks, func(a, c psa.Check) int {
		if a.Level != c.Level {
			if a.Level == psaapi.LevelBaseline {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a.ID), string(c.ID))
	})
	for _, c := range checks {
		fx := podSecurityFixes[string(c.ID)]
		fix := fx.note
		if fx.podSpec != nil {
			fix = "`" + flowYAML(fx.podSpec(examplePod())) + "`"
			if fx.note != "" {
				fix += " " + fx.note
			}
		}
		fmt.Fprintf(&b, "| `%s%s` | %s (since %s) | %s |\n", podSecurityRulePrefix, c.ID, c.Level, c.Versions[0].MinimumVersion, strings.ReplaceAll(fix, "|", "\\|"))
	}
	b.WriteString(docLimits)
	return b.Bytes(), nil
}

// matchedKinds lists the kinds a constraint's spec.match.kinds names.
func matchedKinds(c Constraint) []string {
	var out []string
	ks, _ := nested(c.Doc.Object, "spec", "match", "kinds").([]any)
	for _, k := range ks {
		km, _ := k.(map[string]any)
		kinds, _ := km["kinds"].([]any)
		for _, kind := range kinds {
			out = append(out, fmt.Sprint(kind))
		}
	}
	if len(out) == 0 {
		return []string{"every kind"}
	}
	return out
}

// examplePod breaks every container-level rule once, so each fix shows in the docs.
func examplePod() *corev1.PodSpec {
	return &corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "app", SecurityContext: &corev1.SecurityContext{
		Privileged: ptr.To(true), AllowPrivilegeEscalation: ptr.To(true), ProcMount: ptr.To(corev1.UnmaskedProcMount)}}}}
}

// flowYAML renders a fix fragment on one line, in YAML's flow style, for a table cell.
func flowYAML(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+": "+flowYAML(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, flowYAML(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
