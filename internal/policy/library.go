package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/policies"
)

// API groups of Gatekeeper's policy objects.
const (
	templateGroup   = "templates.gatekeeper.sh"
	constraintGroup = "constraints.gatekeeper.sh"
	// gatorTarget is the only target a ConstraintTemplate may have (Gatekeeper's Kubernetes target).
	gatorTarget = "admission.k8s.gatekeeper.sh"
)

// Annotations on Tollgate's templates (and optionally on anyone's templates or constraints)
// that feed findings and docs/policies.md.
const (
	annotationTitle   = "tollgate.dev/title"
	annotationSummary = "tollgate.dev/summary"
	annotationFix     = "tollgate.dev/fix"
)

// libraryPrefix names the default library's files in messages: they live in the Tollgate binary.
const libraryPrefix = "tollgate:"

// Template is one ConstraintTemplate.
type Template struct {
	Doc  manifest.Document
	Kind string // the constraint kind it defines (spec.crd.spec.names.kind)
	// Library is true for Tollgate's own templates.
	Library bool
}

// Constraint is one Constraint.
type Constraint struct {
	Doc  manifest.Document
	Kind string
	Name string
	// Library is true for Tollgate's own constraints.
	Library bool
}

// ID is the constraint's rule ID in findings: Kind/name.
func (c Constraint) ID() string { return c.Kind + "/" + c.Name }

// Set is the policy a run enforces: templates and constraints, after tollgate.yaml's changes.
type Set struct {
	Templates   []Template
	Constraints []Constraint
	// Skipped counts documents in policy paths that are neither templates nor constraints
	// (gator verify suites and their samples, for instance).
	Skipped int
}

// LoadLibrary reads Tollgate's default library from the binary.
func LoadLibrary() ([]manifest.Document, error) {
	var docs []manifest.Document
	for _, dir := range []string{"templates", "constraints"} {
		entries, err := fs.ReadDir(policies.Library, dir)
		if err != nil {
			return nil, fmt.Errorf("read the default policy library: %w", err)
		}
		for _, e := range entries {
			name := path.Join(dir, e.Name())
			b, err := policies.Library.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("read the default policy library: %w", err)
			}
			d, err := manifest.Parse(libraryPrefix+"policies/"+name, b)
			if err != nil {
				return nil, fmt.Errorf("the default policy library is broken: %w", err)
			}
			docs = append(docs, d...)
		}
	}
	return docs, nil
}

// isTemplate and isConstraint classify Gatekeeper documents.
func isTemplate(d manifest.Document) bool {
	return d.Group() == templateGroup && d.Kind == "ConstraintTemplate"
}

func isConstraint(d manifest.Document) bool { return d.Group() == constraintGroup }

// NewSet builds the policy set from the default library (when on), the documents of the policy
// paths and the templates and constraints among the manifests, which take effect as they would
// once applied. A template or constraint of the same name in the policy paths replaces the
// library's. Malformed templates and constraints, and constraints without a template, are input
// errors naming the file and line.
func NewSet(library, paths, manifests []manifest.Document) (*Set, error) {
	s := &Set{}
	tplIndex := map[string]int{} // template name -> index
	conIndex := map[string]int{} // Kind/name -> index
	add := func(d manifest.Document, lib, fromPaths bool) error {
		switch {
		case isTemplate(d):
			t, err := readTemplate(d)
			if err != nil {
				return err
			}
			t.Library = lib
			if i, ok := tplIndex[d.Name]; ok {
				if s.Templates[i].Library && !lib {
					s.Templates[i] = t
					return nil
				}
				return model.InputErrorf(d.File, d.Line, "ConstraintTemplate %q is defined twice (also at %s)", d.Name, where(s.Templates[i].Doc))
			}
			tplIndex[d.Name] = len(s.Templates)
			s.Templates = append(s.Templates, t)
		case isConstraint(d):
			c, err := readConstraint(d)
			if err != nil {
				return err
			}
			c.Library = lib
			if i, ok := conIndex[c.ID()]; ok {
				if s.Constraints[i].Library && !lib {
					s.Constraints[i] = c
					return nil
				}
				return model.InputErrorf(d.File, d.Line, "Constraint %s is defined twice (also at %s)", c.ID(), where(s.Constraints[i].Doc))
			}
			conIndex[c.ID()] = len(s.Constraints)
			s.Constraints = append(s.Constraints, c)
		case fromPaths:
			s.Skipped++
		}
		return nil
	}
	for _, d := range library {
		if err := add(d, true, false); err != nil {
			return nil, err
		}
	}
	for _, d := range paths {
		if err := add(d, false, true); err != nil {
			return nil, err
		}
	}
	for _, d := range manifests {
		if err := add(d, false, false); err != nil {
			return nil, err
		}
	}
	kinds := map[string]bool{}
	for _, t := range s.Templates {
		if kinds[t.Kind] {
			return nil, model.InputErrorf(t.Doc.File, t.Doc.Line, "ConstraintTemplate %q defines kind %s, which another template defines too", t.Doc.Name, t.Kind)
		}
		kinds[t.Kind] = true
	}
	for _, c := range s.Constraints {
		if !kinds[c.Kind] {
			known := make([]string, 0, len(kinds))
			for k := range kinds {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, model.InputErrorf(c.Doc.File, c.Doc.Line, "Constraint %s: no ConstraintTemplate defines kind %s (known kinds: %s); add the template to policy.paths",
				c.ID(), c.Kind, strings.Join(known, ", "))
		}
	}
	return s, nil
}

func where(d manifest.Document) string {
	if d.Line > 0 {
		return fmt.Sprintf("%s:%d", d.File, d.Line)
	}
	return d.File
}

// readTemplate checks the fields Gatekeeper requires of a ConstraintTemplate, so a broken
// template is named by file and line before gator runs.
func readTemplate(d manifest.Document) (Template, error) {
	bad := func(format string, args ...any) error {
		return model.InputErrorf(d.File, d.Line, "ConstraintTemplate %q: "+format, append([]any{d.Name}, args...)...)
	}
	if d.Name == "" {
		return Template{}, model.InputErrorf(d.File, d.Line, "ConstraintTemplate without metadata.name")
	}
	kind, _ := nested(d.Object, "spec", "crd", "spec", "names", "kind").(string)
	if kind == "" {
		return Template{}, bad("spec.crd.spec.names.kind is required")
	}
	if strings.ToLower(kind) != d.Name {
		return Template{}, bad("metadata.name must be the lowercase of spec.crd.spec.names.kind (%q)", strings.ToLower(kind))
	}
	targets, _ := nested(d.Object, "spec", "targets").([]any)
	if len(targets) != 1 {
		return Template{}, bad("spec.targets must hold exactly one target (%s), found %d", gatorTarget, len(targets))
	}
	t, _ := targets[0].(map[string]any)
	if name, _ := t["target"].(string); name != gatorTarget {
		return Template{}, bad("spec.targets[0].target must be %s, got %q", gatorTarget, t["target"])
	}
	rego, _ := t["rego"].(string)
	code, _ := t["code"].([]any)
	if strings.TrimSpace(rego) == "" && len(code) == 0 {
		return Template{}, bad("spec.targets[0] has no rego and no code: the template enforces nothing")
	}
	for i, c := range code {
		cm, _ := c.(map[string]any)
		engine, _ := cm["engine"].(string)
		if engine == "" || cm["source"] == nil {
			return Template{}, bad("spec.targets[0].code[%d] needs an engine (Rego or K8sNativeValidation) and a source", i)
		}
	}
	return Template{Doc: d, Kind: kind}, nil
}

// readConstraint checks a constraint's name and enforcement action.
func readConstraint(d manifest.Document) (Constraint, error) {
	c := Constraint{Doc: d, Kind: d.Kind, Name: d.Name}
	if d.Name == "" {
		return c, model.InputErrorf(d.File, d.Line, "%s constraint without metadata.name", d.Kind)
	}
	if _, ok := nested(d.Object, "spec").(map[string]any); !ok && nested(d.Object, "spec") != nil {
		return c, model.InputErrorf(d.File, d.Line, "Constraint %s: spec must be an object", c.ID())
	}
	action, err := enforcementAction(d.Object)
	if err != nil {
		return c, model.InputErrorf(d.File, d.Line, "Constraint %s: %v", c.ID(), err)
	}
	if action == actionScoped {
		if _, ok := nested(d.Object, "spec", "scopedEnforcementActions").([]any); !ok {
			return c, model.InputErrorf(d.File, d.Line, "Constraint %s: enforcementAction scoped needs spec.scopedEnforcementActions", c.ID())
		}
	}
	return c, nil
}

// Gatekeeper's enforcement actions.
const (
	actionDeny   = "deny"
	actionWarn   = "warn"
	actionDryrun = "dryrun"
	actionScoped = "scoped"
)

// enforcementAction reads spec.enforcementAction (default deny). Gatekeeper's controller rejects
// any other value; gator would carry it through silently, so it is checked here.
func enforcementAction(obj map[string]any) (string, error) {
	v := nested(obj, "spec", "enforcementAction")
	if v == nil {
		return actionDeny, nil
	}
	s, ok := v.(string)
	switch {
	case !ok:
		return "", errors.New("spec.enforcementAction must be a string")
	case s == actionDeny, s == actionWarn, s == actionDryrun, s == actionScoped:
		return s, nil
	}
	return "", fmt.Errorf("unknown spec.enforcementAction %q (want deny, warn, dryrun or scoped)", s)
}

// nested reads a value at a path of maps; nil when absent.
func nested(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// loadPaths reads the documents of policy paths with the shared loader.
func loadPaths(ctx context.Context, root string, paths []string) ([]manifest.Document, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	// A policy directory holds templates and constraints only: a file there that is not one
	// (not YAML, a stray config) is the user's mistake, not something to pass over.
	l := &manifest.Loader{Root: root, Strict: true}
	return l.Load(ctx, paths)
}
