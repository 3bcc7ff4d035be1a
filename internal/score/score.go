// Package score is the Kubernetes manifest scoring stage: it runs the pinned kube-score on the
// project's manifests and maps its checks to findings with Tollgate's severities (CRITICAL ->
// HIGH and WARNING -> MEDIUM by default, configurable per check).
//
// Checks in force: kube-score v1.20.0's default checks plus container-seccomp-profile, which
// kube-score leaves optional; tollgate.yaml's score.enable-checks adds more optional ones and
// score.ignore-checks turns checks off. The runtime-protection controls kube-score sees:
//   - security context: container-security-context-user-group-id (runAsUser/runAsGroup > 10000,
//     so not root), -privileged, -readonlyrootfilesystem, container-seccomp-profile
//   - resources: container-resources, container-ephemeral-storage-request-and-limit
//   - probes: pod-probes, pod-probes-identical (for pods behind a Service)
//   - NetworkPolicy targeting: pod-networkpolicy, networkpolicy-targets-pod
//   - image: container-image-tag (no :latest), container-image-pull-policy (Always)
//
// kube-score does not look at runAsNonRoot, allowPrivilegeEscalation or capabilities: those are
// for admission policies (Gatekeeper, the policy stage of DESIGN.md), not this stage.
package score

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Name is the stage name.
const Name = "score"

// toolName is kube-score's name in the pin table.
const toolName = "kube-score"

// RawOutputName is the artifact holding kube-score's own JSON output.
const RawOutputName = "kube-score.json"

// Tool is the pinned kube-score, as reported in results.
func Tool() model.Tool {
	t := tools.MustGet(toolName)
	return model.Tool{Name: t.Name, Version: t.Version}
}

// Runner runs kube-score as a local process: the native runner's executor. kube-score is not
// linked in: v1.20.0's packages need k8s.io/api and apimachinery v0.32 (its parser imports
// autoscaling/v2beta1 and v2beta2, gone from the v0.36 Tollgate builds with, and score/internal's
// label type lacks labels.Labels' Lookup), so running it in-process would mean a patched fork.
type Runner struct {
	// Binary is the kube-score executable.
	Binary string
	// Version is reported in the result (read from the binary's build info by the caller).
	Version string
	// Timeout bounds one kube-score run (default 2 minutes).
	Timeout time.Duration
	// OutDir, when set, receives kube-score's raw JSON output as an artifact.
	OutDir string
	// Root is the project root the documents' files are relative to; project files kube-score
	// can read as they are are passed as they are ("" writes every input).
	Root string
	// Parallel is how many kube-score processes may run at once on sets of documents no check
	// relates (0 or 1: one run). The documents must then be fully decoded (not Loader.Shallow):
	// the sets are found from their selectors, labels and references.
	Parallel int
}

// Score scores the documents with kube-score. Bad options are a *model.InputError; a kube-score
// crash, hang or output that is not its JSON is a *model.ToolError.
func (r Runner) Score(ctx context.Context, o Options, docs []manifest.Document) (*model.StageResult, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	tool := Tool()
	if r.Version != "" {
		tool.Version = r.Version
	}
	res := &model.StageResult{Stage: Name, Tool: tool, Findings: []model.Finding{}}
	if len(docs) == 0 {
		return res, nil
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	exec := func(ctx context.Context, inputs []Input) (int, []byte, []byte, error) {
		dir, err := os.MkdirTemp("", "tollgate-score-*")
		if err != nil {
			return 0, nil, nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("temp dir: %w", err)}
		}
		defer os.RemoveAll(dir)
		files := make([]string, 0, len(inputs))
		for _, in := range inputs {
			if in.Path != "" { // a project file kube-score reads where it is
				files = append(files, in.Path)
				continue
			}
			p := filepath.Join(dir, in.Name)
			if err := os.WriteFile(p, in.Content, 0o600); err != nil {
				return 0, nil, nil, &model.ToolError{Tool: toolName, Err: fmt.Errorf("write input: %w", err)}
			}
			files = append(files, p)
		}
		args, err := Args(o, files)
		if err != nil {
			return 0, nil, nil, &model.InputError{File: o.ConfigFile, Err: err}
		}
		out, err := tools.Run(ctx, toolName, tools.Cmd{Path: r.Binary, Args: args, Dir: dir, Env: tools.BatchGCEnv(), Timeout: timeout})
		if err != nil {
			return 0, nil, nil, err
		}
		return out.ExitCode, out.Stdout, out.Stderr, nil
	}
	outcome, err := runIn(ctx, o, r.Root, docs, exec, r.OutDir != "", r.Parallel)
	if err != nil {
		return nil, err
	}
	if r.OutDir != "" {
		a, err := writeArtifact(r.OutDir, outcome.Raw)
		if err != nil {
			return nil, err
		}
		res.Artifacts = append(res.Artifacts, a)
	}
	res.Findings, res.Rules = outcome.Findings, outcome.Rules
	return res, nil
}

// Interpret turns a finished kube-score run into findings and rules; both runners use it.
// kube-score exits 1 when a check is CRITICAL: that is a result, not a failure. Any other exit
// code, output that is not kube-score's JSON, or an exit code that contradicts the output is a
// *model.ToolError, so the stage fails closed.
func Interpret(exitCode int, stdout, stderr []byte, o Options, b *Batch) ([]model.Finding, []model.Rule, error) {
	toolErr := func(err error) error {
		if msg := strings.TrimSpace(tools.LastLines(stderr, 5)); msg != "" {
			err = fmt.Errorf("%w; stderr: %s", err, msg)
		}
		return &model.ToolError{Tool: toolName, Err: err}
	}
	if exitCode != 0 && exitCode != 1 {
		return nil, nil, toolErr(fmt.Errorf("exited with code %d", exitCode))
	}
	findings, rules, criticals, err := parse(stdout, o, b)
	if err != nil {
		if exitCode != 0 {
			err = fmt.Errorf("exited with code %d: %w", exitCode, err)
		}
		return nil, nil, toolErr(err)
	}
	if (exitCode == 1) != (criticals > 0) {
		return nil, nil, toolErr(fmt.Errorf("exit code %d does not match its output (%d critical check(s))", exitCode, criticals))
	}
	return findings, rules, nil
}

// writeArtifact saves kube-score's raw output under a temp name and renames it into place.
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

// Paths are the manifest paths the stage scores: the command line's, else ConfigPaths.
func Paths(env *stage.Env) []string {
	if len(env.Args) > 0 {
		return env.Args
	}
	return ConfigPaths(env.Config)
}

// ConfigPaths are the manifest paths from tollgate.yaml: score.paths, else validate.paths (the
// same manifests the validate stage checks).
func ConfigPaths(c *config.Config) []string {
	if len(c.Score.Paths) > 0 {
		return c.Score.Paths
	}
	return c.Validate.Paths
}

// Stage is the native score stage.
func Stage() stage.Stage {
	return stage.Stage{
		Name:  Name,
		Tool:  Tool(),
		Usage: "[PATH...]",
		Short: "Score Kubernetes manifests with kube-score (security context, resources, probes, NetworkPolicy, images)",
		Run:   run,

		CacheKey: cacheKey,
	}
}

func run(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	o := OptionsFrom(env.Config)
	if err := o.Check(); err != nil {
		return nil, err
	}
	paths := Paths(env)
	if len(env.Args) == 0 && len(env.Config.Score.Paths) == 0 && env.Config.Validate.Discovered && len(paths) == 0 {
		return stage.NoManifests(Name, Tool(), "set score.paths or validate.paths in tollgate.yaml"), nil
	}
	defaulted := len(env.Config.Score.Paths) == 0 && env.Config.Validate.PathsDefaulted
	if r := env.SkipMissingDefaults(Name, Tool(), defaulted, paths, "set score.paths or validate.paths in tollgate.yaml"); r != nil {
		return r, nil
	}
	// kube-score parses every document itself; Tollgate decodes them too, to report bad input
	// at its file and line (kube-score names neither) and to find the sets of documents no
	// check relates, which separate kube-score processes score at once (split).
	l := &manifest.Loader{Root: env.Root, Helm: manifest.EnvHelm(env, o.KubernetesVersion)}
	docs, err := l.Load(ctx, paths)
	if err == nil && len(docs) == 0 {
		err = noManifests(paths, l.Skipped)
	}
	if err != nil {
		return nil, err // names the file and line; the runner prefixes the stage name
	}
	bin, err := env.Tools.Ensure(ctx, toolName)
	if err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: err}
	}
	// Ensure has verified the binary's build info against the pin.
	version := tools.MustGet(toolName).Version
	if env.Progress != nil {
		env.Progress(Name, fmt.Sprintf("scoring %d document(s) with kube-score %s", len(docs), version))
	}
	res, err := Runner{Binary: bin, Version: version, OutDir: env.OutDir, Root: env.Root, Parallel: runtime.GOMAXPROCS(0)}.Score(ctx, o, docs)
	if err != nil {
		return nil, err
	}
	// validate reads the same inputs and reports what was passed over; alone, score does.
	notes := l.Skipped
	if env.Runs("validate") {
		notes = nil
	}
	AddNotes(res, notes)
	return res, nil
}

// noManifests is the error for paths that hold no Kubernetes object at all.
func noManifests(paths []string, skipped []manifest.Skip) error {
	msg := fmt.Sprintf("no Kubernetes manifests found in %s", strings.Join(paths, ", "))
	if n := len(skipped); n > 0 {
		msg += fmt.Sprintf(" (%d input(s) not checked, e.g. %s: %s)", n, skipped[0].File, skipped[0].Reason)
	}
	return &model.InputError{Err: errors.New(msg)}
}

// AddNotes adds a note per input passed over, and reports once what several rendered objects
// share (a base under two overlays).
func AddNotes(res *model.StageResult, skipped []manifest.Skip) {
	manifest.SortSkips(skipped)
	res.Findings = manifest.MergeFindings(append(res.Findings, manifest.SkipFindings(res.Stage, skipped)...))
	if len(skipped) > 0 {
		res.Rules = append(res.Rules, manifest.SkippedRule())
	}
	sortFindings(res.Findings)
}
