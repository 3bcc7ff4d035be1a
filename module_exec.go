package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// The module's executor: the orchestration every stage function shares, so a stage file holds
// only what is particular to its tool. A stage runs with its config and ends as a gated
// StageReport, an error included (stage, gateStage); a tool runs in its pinned official image
// and its exit code is read, not trusted to fail the call (runTool); tool inputs are written to a
// scratch directory in the module's workdir and mounted, never sent inline (newScratch); and
// messages never show the module's internal paths (hidePaths, scrubPaths).

// stage loads the config, runs one stage with it and gates the outcome.
func (m *Tollgate) stage(ctx context.Context, name string, tool model.Tool,
	run func(ctx context.Context, cfg *config.Config) (*model.StageResult, error)) (*StageReport, error) {
	start := time.Now()
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	res, err := run(ctx, cfg)
	return gateStage(cfg, name, tool, res, err, start)
}

// gateStage turns a stage's outcome into its gated report: an error becomes the stage's error
// result (bad input exits 2, anything else 3: the stage fails closed), a stage that recorded no
// duration is timed from start, and the gate (threshold, ignores) decides the status.
func gateStage(cfg *config.Config, name string, tool model.Tool, res *model.StageResult, err error, start time.Time) (*StageReport, error) {
	if err == nil && res == nil {
		err = &model.ToolError{Tool: tool.Name, Err: errors.New("the stage returned no result")}
	}
	if err != nil {
		res = model.ErrorResult(name, tool, err)
	}
	if res.Stage == "" {
		res.Stage = name
	}
	if res.Findings == nil {
		res.Findings = []model.Finding{}
	}
	if res.Duration == 0 && !start.IsZero() {
		res.Duration = time.Since(start)
	}
	what := res.Summary
	gate.Apply(res, cfg, now())
	// The gate writes the summary; a release stage's says what it did, by digest, too.
	if what != "" && releaseStage(name) && (res.Status == model.StatusPass || res.Status == model.StatusFail) {
		res.Summary = what + " (" + res.Summary + ")"
	}
	return newStageReport(res)
}

// releaseStage reports whether a stage's summary names what it released.
func releaseStage(name string) bool {
	switch name {
	case "push", "sign", "attest", "verify":
		return true
	}
	return false
}

// errorReport is the report of a stage that could not even produce a result (an engine or API
// failure outside the stage's own handling): an error, never a pass.
func errorReport(name string, err error) *StageReport {
	r, rerr := newStageReport(model.ErrorResult(name, model.Tool{Name: name}, err))
	if rerr != nil {
		return &StageReport{Stage: name, Status: string(model.StatusError), ErrorKind: model.ErrKindTool, ExitCode: model.ExitTool, Summary: err.Error()}
	}
	return r
}

// toolImage is a tool's pinned official image: the base of every tool container.
func toolImage(tool string) *dagger.Container {
	return dag.Container().From(tools.MustGet(tool).Image)
}

// toolArgv is a tool's command line in its image: the binary by absolute path, since several
// official images have no shell and their entrypoints differ.
func toolArgv(tool string, args []string) []string {
	return append([]string{tools.MustGet(tool).ImageBinary}, args...)
}

// toolRun is what one exec in a tool container left.
type toolRun struct {
	tool   string
	code   int
	stdout []byte
	stderr []byte
	// ctr is the container after the exec, to read the files the tool wrote.
	ctr *dagger.Container
	// hide maps the module's internal paths to what the user knows them as, for messages.
	hide map[string]string
}

// runTool execs argv in ctr (whose mounts, environment and secrets the caller set up) and reads
// the exit code, stdout and stderr. A non-zero exit is not an error here: the stage's shared
// parser says what it means. An engine failure, or ctx ending first, is a *model.ToolError
// naming the tool; hide names internal paths in its message as the user knows them.
func runTool(ctx context.Context, tool string, ctr *dagger.Container, argv []string, hide map[string]string) (*toolRun, error) {
	ctr = ctr.WithExec(argv, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return nil, engineError(ctx, tool, err, hide)
	}
	stdout, err := ctr.Stdout(ctx)
	if err != nil {
		return nil, &model.ToolError{Tool: tool, Err: fmt.Errorf("read output: %s", hidePaths(err.Error(), hide))}
	}
	stderr, _ := ctr.Stderr(ctx) // best effort: it only ever explains a failure
	return &toolRun{tool: tool, code: code, stdout: []byte(stdout), stderr: []byte(hidePaths(stderr, hide)), ctr: ctr, hide: hide}, nil
}

// engineError is an exec the engine could not finish: a tool failure (fail closed), or the
// stage's deadline when ctx ended first.
func engineError(ctx context.Context, tool string, err error, hide map[string]string) error {
	if ctx.Err() != nil {
		return &model.ToolError{Tool: tool, Err: fmt.Errorf("did not finish: %w", ctx.Err())}
	}
	return &model.ToolError{Tool: tool, Err: errors.New(hidePaths(err.Error(), hide))}
}

// result is the run in the shape the shared parsers take.
func (r *toolRun) result() *tools.Result {
	return &tools.Result{ExitCode: r.code, Stdout: r.stdout, Stderr: r.stderr}
}

// file reads a file the tool wrote; a missing one is the tool's failure (named by its base
// name: where the module mounts it is nobody's business).
func (r *toolRun) file(ctx context.Context, path string) (*dagger.File, []byte, error) {
	f := r.ctr.File(path)
	b, err := f.Contents(ctx)
	if err != nil {
		return nil, nil, &model.ToolError{Tool: r.tool, Err: fmt.Errorf("exited %d but wrote no %s", r.code, filepath.Base(path))}
	}
	return f, []byte(b), nil
}

// scratch is a directory in the module's workdir for one stage's tool inputs. The engine mounts
// it into a tool container (dag.CurrentModule().Workdir), so inputs never travel as inline file
// contents, which Dagger prints in its progress output, Secret values included.
type scratch struct {
	rel  string // relative to the runtime's workdir: what Workdir takes
	abs  string // for everything else, so no path depends on which process resolves it
	tool string // for errors
}

// newScratch makes a scratch directory readable by the non-root users of the tool images.
func newScratch(tool, prefix string) (*scratch, error) {
	rel, err := os.MkdirTemp(".", "tollgate-"+prefix+"-*")
	if err != nil {
		return nil, &model.ToolError{Tool: tool, Err: err}
	}
	// Clean: MkdirTemp returns "./name", and every path joined from it loses the "./".
	s := &scratch{rel: filepath.Clean(rel), tool: tool}
	if err := os.Chmod(s.rel, 0o755); err != nil {
		s.remove()
		return nil, &model.ToolError{Tool: tool, Err: err}
	}
	if s.abs, err = filepath.Abs(s.rel); err != nil {
		s.remove()
		return nil, &model.ToolError{Tool: tool, Err: err}
	}
	return s, nil
}

func (s *scratch) remove() { os.RemoveAll(s.rel) }

// path is sub inside the scratch directory, absolute.
func (s *scratch) path(sub string) string { return filepath.Join(s.abs, sub) }

// dir is sub inside the scratch directory as a Directory the engine can mount.
func (s *scratch) dir(sub string) *dagger.Directory {
	return dag.CurrentModule().Workdir(filepath.Join(s.rel, sub))
}

// source exports the project source into sub of the scratch directory, where the shared Go
// code (discovery, manifest loading, kustomize) reads it, and returns its absolute path.
func (s *scratch) source(ctx context.Context, m *Tollgate, sub string) (string, error) {
	root := s.path(sub)
	if err := m.exportSource(ctx, root); err != nil {
		return "", &model.ToolError{Tool: s.tool, Err: err}
	}
	return root, nil
}

// scrub removes the scratch directory's paths from an error (see scrubPaths).
func (s *scratch) scrub(err error, more ...string) error {
	return scrubPaths(err, append(more, s.abs, s.rel)...)
}

// hidePaths replaces the module's internal paths in a tool's message with what the user knows
// them as (longest first, so /tollgate/image.tar is not half-replaced by /tollgate/image).
func hidePaths(msg string, names map[string]string) string {
	keys := slices.Collect(maps.Keys(names))
	slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) })
	for _, k := range keys {
		msg = strings.ReplaceAll(msg, k, names[k])
	}
	return msg
}

// scrubPaths removes the module runtime's scratch directories from an error's message, so
// users see their own paths ("k8s/app.yaml"), never "tollgate-validate-123/cache/...". The
// error keeps its kind (bad input: exit 2; tool failure: exit 3).
func scrubPaths(err error, dirs ...string) error {
	if err == nil {
		return nil
	}
	clean := func(s string) string {
		for _, d := range dirs {
			if d == "" {
				continue
			}
			for _, p := range []string{filepath.ToSlash(d) + "/", d + string(filepath.Separator), d} {
				s = strings.ReplaceAll(s, p, "")
			}
		}
		return s
	}
	var many manifest.Errors
	var ie *model.InputError
	var te *model.ToolError
	switch {
	case errors.As(err, &many):
		out := make(manifest.Errors, len(many))
		for i, e := range many {
			out[i] = &model.InputError{File: clean(e.File), Line: e.Line, Err: errors.New(clean(e.Err.Error()))}
		}
		return out
	case errors.As(err, &te):
		return &model.ToolError{Tool: te.Tool, Err: errors.New(clean(te.Err.Error()))}
	case errors.As(err, &ie):
		return &model.InputError{File: clean(ie.File), Line: ie.Line, Err: errors.New(clean(ie.Err.Error()))}
	}
	return errors.New(clean(err.Error()))
}
