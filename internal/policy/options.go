package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Options is what the policy stage needs from tollgate.yaml.
type Options struct {
	// DefaultLibrary turns Tollgate's own library on.
	DefaultLibrary bool
	// Disabled constraints (metadata.name) do not run.
	Disabled []string
	// Overrides change single constraints by name.
	Overrides map[string]config.ConstraintOverride
	// PodSecurityLevel and PodSecurityVersion apply where no Namespace among the manifests sets
	// its own level; PodSecuritySeverity is the severity of a violation.
	PodSecurityLevel, PodSecurityVersion string
	PodSecuritySeverity                  model.Severity
	// DefaultNamespace is where documents without a namespace land (kubectl apply's default).
	DefaultNamespace string
	// ConfigFile names tollgate.yaml in errors about these options.
	ConfigFile string
}

// OptionsFrom reads the policy options from the config.
func OptionsFrom(c *config.Config) Options {
	return Options{
		DefaultLibrary:      c.Policy.DefaultLibraryOn(),
		Disabled:            c.Policy.Disabled,
		Overrides:           c.Policy.Constraints,
		PodSecurityLevel:    string(c.Policy.PodSecurity.Level),
		PodSecurityVersion:  string(c.Policy.PodSecurity.Version),
		PodSecuritySeverity: c.Policy.PodSecurity.Severity,
		DefaultNamespace:    c.Policy.DefaultNamespace,
		ConfigFile:          c.Path,
	}
}

// Check verifies the options that do not depend on the policy set (flags may have bypassed the
// config file's own checks).
func (o Options) Check() error {
	if _, err := parseLevelVersion(o.PodSecurityLevel, o.PodSecurityVersion); err != nil {
		return &model.InputError{File: o.ConfigFile, Err: fmt.Errorf("policy.pod-security: %w", err)}
	}
	if o.DefaultNamespace == "" {
		return &model.InputError{File: o.ConfigFile, Err: fmt.Errorf("policy.default-namespace must not be empty")}
	}
	return nil
}

// Apply removes disabled constraints and applies the overrides, on copies: the loaded documents
// stay as written. A name that matches no constraint is an input error (a typo would otherwise
// silently keep a constraint on).
func (o Options) Apply(s *Set) (*Set, error) {
	names := map[string]bool{}
	for _, c := range s.Constraints {
		names[c.Name] = true
	}
	var unknown []string
	disabled := map[string]bool{}
	for _, n := range o.Disabled {
		disabled[n] = true
		if !names[n] {
			unknown = append(unknown, "policy.disabled: "+n)
		}
	}
	for n := range o.Overrides {
		if !names[n] {
			unknown = append(unknown, "policy.constraints: "+n)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		known := make([]string, 0, len(names))
		for n := range names {
			known = append(known, n)
		}
		sort.Strings(known)
		return nil, &model.InputError{File: o.ConfigFile, Err: fmt.Errorf("no constraint named %s (constraints: %s)",
			strings.Join(unknown, ", "), strings.Join(known, ", "))}
	}
	out := &Set{Templates: s.Templates, Skipped: s.Skipped}
	for _, c := range s.Constraints {
		if disabled[c.Name] {
			continue
		}
		if ov, ok := o.Overrides[c.Name]; ok && (ov.EnforcementAction != "" || len(ov.Parameters) > 0) {
			c.Doc = overridden(c.Doc, ov)
		}
		out.Constraints = append(out.Constraints, c)
	}
	return out, nil
}

// overridden returns a copy of a constraint document with tollgate.yaml's enforcement action and
// parameters in place.
func overridden(d manifest.Document, ov config.ConstraintOverride) manifest.Document {
	obj := deepCopy(d.Object).(map[string]any)
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		obj["spec"] = spec
	}
	if ov.EnforcementAction != "" {
		spec["enforcementAction"] = string(ov.EnforcementAction)
		delete(spec, "scopedEnforcementActions")
	}
	if len(ov.Parameters) > 0 {
		params, _ := spec["parameters"].(map[string]any)
		if params == nil {
			params = map[string]any{}
		}
		for k, v := range ov.Parameters {
			params[k] = deepCopy(v)
		}
		spec["parameters"] = params
	}
	d.Object = obj
	d.Raw = nil
	return d
}

// deepCopy copies decoded YAML/JSON values (maps, lists, scalars).
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// severity is the severity of a constraint's deny findings: tollgate.yaml's, else HIGH.
func (o Options) severity(name string) model.Severity {
	if ov, ok := o.Overrides[name]; ok && ov.Severity != model.SeverityUnknown {
		return ov.Severity
	}
	return model.SeverityHigh
}
