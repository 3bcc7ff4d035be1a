// Package policy is the policy stage: Gatekeeper constraints evaluated with the pinned gator
// (`gator test`) on the project's manifests, exactly as Gatekeeper's admission webhook would
// judge them, plus the Pod Security Standards evaluated with the upstream checks
// (k8s.io/pod-security-admission/policy) at the level each Namespace declares.
//
// The policy set is Tollgate's default library (policies/ in this repository, embedded in the
// binary), the templates and constraints under policy.paths, and those among the manifests.
// tollgate.yaml disables constraints by name and changes their enforcement action and
// parameters. A deny violation is a finding that counts against the gate; warn and dryrun
// violations are reported, suppressed with the reason, and never block.
//
// Referential constraints read data.inventory: gator puts every object it is given there, so the
// manifests themselves are the inventory (namespace-scoped objects under
// data.inventory.namespace[NS][GROUP/VERSION][KIND][NAME], cluster-scoped ones under
// data.inventory.cluster[GROUP/VERSION][KIND][NAME]).
package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Name is the stage name.
const Name = "policy"

// toolName is gator's name in the pin table.
const toolName = "gator"

// RawOutputName is the artifact holding gator's own JSON output.
const RawOutputName = "gator.json"

// Tool is the pinned gator, as reported in results.
func Tool() model.Tool {
	t := tools.MustGet(toolName)
	return model.Tool{Name: t.Name, Version: t.Version}
}

// Runner runs gator as a local process: the native runner's executor.
type Runner struct {
	// Binary is the gator executable.
	Binary string
	// Version is reported in the result.
	Version string
	// Timeout bounds one gator run (default 5 minutes).
	Timeout time.Duration
	// OutDir, when set, receives gator's raw JSON output as an artifact.
	OutDir string
}

// Check evaluates the manifests against the policy set (after tollgate.yaml's changes) and the Pod
// Security Standards, the latter while gator runs. Bad options or policies are a
// *model.InputError; a gator crash, hang or output that is not its JSON is a *model.ToolError.
func (r Runner) Check(ctx context.Context, o Options, s *Set, docs []manifest.Document) (*model.StageResult, error) {
	p, err := Prepare(o, s, docs)
	if err != nil {
		return nil, err
	}
	tool := Tool()
	if r.Version != "" {
		tool.Version = r.Version
	}
	var pss []model.Finding
	var pssErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		pss, pssErr = p.PodSecurity()
	}()
	var out *tools.Result
	var gatorErr error
	if p.NeedsGator() {
		out, gatorErr = r.gator(ctx, p.Batch)
	}
	<-done
	// The user's mistake first: a bad Namespace label is exit 2 whatever gator did.
	if pssErr != nil {
		return nil, pssErr
	}
	if gatorErr != nil {
		return nil, gatorErr
	}
	res, err := p.Result(tool, out, pss)
	if err != nil {
		return nil, err
	}
	if r.OutDir != "" && out != nil {
		a, err := writeArtifact(r.OutDir, out.Stdout)
		if err != nil {
			return nil, err
		}
		res.Artifacts = append(res.Artifacts, a)
	}
	return res, nil
}

// Plan is a prepared policy check, shared by both runners: the policy set after tollgate.yaml's
// changes and gator's input.
type Plan struct {
	Options Options
	Set     *Set
	Batch   *Batch
}

// Prepare applies tollgate.yaml to the policy set and prepares gator's input.
func Prepare(o Options, s *Set, docs []manifest.Document) (*Plan, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	s, err := o.Apply(s)
	if err != nil {
		return nil, err
	}
	b, err := NewBatch(o, s, docs)
	if err != nil {
		return nil, err
	}
	return &Plan{Options: o, Set: s, Batch: b}, nil
}

// NeedsGator reports whether any constraint is left to evaluate.
func (p *Plan) NeedsGator() bool { return len(p.Set.Constraints) > 0 }

// PodSecurity evaluates the Pod Security Standards on the plan's manifests (Go, no tool; safe to
// run while gator runs).
func (p *Plan) PodSecurity() ([]model.Finding, error) {
	return PodSecurity(p.Options, p.Batch.docs, p.Batch.namespaces.of)
}

// Result reads a finished gator run (nil when NeedsGator is false) into the stage result, with
// the Pod Security findings and the rules in force.
func (p *Plan) Result(tool model.Tool, out *tools.Result, podSecurity []model.Finding) (*model.StageResult, error) {
	res := &model.StageResult{Stage: Name, Tool: tool, Findings: []model.Finding{}}
	if out != nil {
		fs, err := Interpret(out.ExitCode, out.Stdout, out.Stderr, p.Batch)
		if err != nil {
			return nil, err
		}
		res.Findings = fs
	} else if p.NeedsGator() {
		return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("gator did not run, yet %d constraint(s) are in force", len(p.Set.Constraints))}
	}
	res.Findings = append(res.Findings, podSecurity...)
	sortFindings(res.Findings)
	res.Rules = Rules(p.Options, p.Set, res.Findings)
	return res, nil
}

// PodSecurity evaluates the pod-bearing manifests against the Pod Security Standards; both
// runners use it (it is Go, no tool).
func PodSecurity(o Options, docs []manifest.Document, namespaceOf func(manifest.Document) string) ([]model.Finding, error) {
	ps, err := newPodSecurity(o.PodSecurityLevel, o.PodSecurityVersion, o.PodSecuritySeverity)
	if err != nil {
		return nil, &model.InputError{File: o.ConfigFile, Err: fmt.Errorf("policy.pod-security: %w", err)}
	}
	return ps.Evaluate(docs, namespaceOf)
}

func (r Runner) gator(ctx context.Context, b *Batch) (*tools.Result, error) {
	dir, err := os.MkdirTemp("", "tollgate-policy-*")
	if err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("temp dir: %w", err)}
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, InputName)
	if err := os.WriteFile(in, b.Input, 0o600); err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("write input: %w", err)}
	}
	args, err := Args(in)
	if err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: err}
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	return tools.Run(ctx, toolName, tools.Cmd{Path: r.Binary, Args: args, Dir: dir, Timeout: timeout})
}

// Rules are the rule metadata of a run: every constraint in force, and the Pod Security checks
// that fired.
func Rules(o Options, s *Set, findings []model.Finding) []model.Rule {
	tpl := map[string]Template{}
	for _, t := range s.Templates {
		tpl[t.Kind] = t
	}
	var rules []model.Rule
	for _, c := range s.Constraints {
		t := tpl[c.Kind]
		rules = append(rules, model.Rule{ID: c.ID(), Name: annotation(t.Doc, annotationTitle, c.Kind), Severity: o.severity(c.Name),
			Summary: oneLine(annotation(t.Doc, annotationSummary, "")), Fix: strings.TrimRight(annotation(t.Doc, annotationFix, ""), "\n")})
	}
	seen := map[string]bool{}
	for _, f := range findings {
		if !strings.HasPrefix(f.RuleID, podSecurityRulePrefix) || seen[f.RuleID] {
			continue
		}
		seen[f.RuleID] = true
		rules = append(rules, model.Rule{ID: f.RuleID, Name: f.Title, Severity: f.Severity,
			Summary: "Pod Security Standards check " + strings.TrimPrefix(f.RuleID, podSecurityRulePrefix) + " (k8s.io/pod-security-admission)", URL: podSecurityURL})
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	return rules
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// writeArtifact saves gator's raw output under a temp name and renames it into place.
func writeArtifact(outDir string, b []byte) (model.Artifact, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return model.Artifact{}, &model.ToolError{Tool: toolName, Err: fmt.Errorf("create %s: %w", outDir, err)}
	}
	f, err := os.CreateTemp(outDir, "."+RawOutputName+"-*")
	if err != nil {
		return model.Artifact{}, &model.ToolError{Tool: toolName, Err: fmt.Errorf("write %s: %w", RawOutputName, err)}
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	dst := filepath.Join(outDir, RawOutputName)
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return model.Artifact{}, &model.ToolError{Tool: toolName, Err: fmt.Errorf("write %s: %w", dst, err)}
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return model.Artifact{}, &model.ToolError{Tool: toolName, Err: fmt.Errorf("write %s: %w", dst, err)}
	}
	return model.Artifact{Name: RawOutputName, Path: dst, Type: "application/json"}, nil
}
