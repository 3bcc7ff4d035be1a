package sbom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Name is the stage name.
const Name = "sbom"

// RuleEmpty is the finding for an SBOM without packages.
const RuleEmpty = "SBOM001"

// DefaultTimeout bounds one syft run.
const DefaultTimeout = 10 * time.Minute

// Tool is syft at its pinned version.
func Tool() model.Tool {
	t := tools.MustGet("syft")
	return model.Tool{Name: t.Name, Version: t.Version}
}

// Rules is the metadata of the stage's own finding, for SARIF rule descriptors.
func Rules() []model.Rule {
	return []model.Rule{{
		ID: RuleEmpty, Name: "sbom-no-packages", Severity: model.SeverityInfo,
		Summary: "syft found no packages in the image, so the SBOM and the vulnerability scan see nothing to check.",
		Fix:     "Keep the package database in the image (apk/dpkg/rpm), keep node_modules package.json files and build Go binaries with module info; ignore this finding for images that truly hold no packages.",
	}}
}

// Args are syft's arguments: describe source once and write every format into outDir. The
// same function serves the native runner and the Dagger module (where outDir is a container path).
// sourceName names the SBOM's subject (the image as the user knows it) instead of a temp path.
// No --quiet: it silences syft's logger, and with it the reason of a failure, which syft logs
// instead of printing; ExitError keeps the end of stderr instead.
func Args(source string, formats []Format, outDir, sourceName string) []string {
	args := []string{"scan", source}
	if sourceName != "" {
		args = append(args, "--source-name", sourceName)
	}
	for _, f := range formats {
		args = append(args, "-o", f.Syft+"="+strings.TrimSuffix(outDir, "/")+"/"+f.File)
	}
	return args
}

// Env is syft's environment: no update check (no network beyond the image's own registry).
func Env() []string {
	return []string{"SYFT_CHECK_FOR_APP_UPDATE=false"}
}

// Bounds of the syft output quoted in an error: the cause is in the last lines, and a message
// must stay readable in a summary table.
const (
	errLines = 5
	errBytes = 2000
)

// ansiEscape matches terminal colour and cursor sequences, which syft writes even when its
// stderr is not a terminal (e.g. inside a container).
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// ExitError is the tool error for a syft run that exited with code: it quotes the end of syft's
// stderr (bounded, colour codes removed), where syft logs why it failed, e.g. "connection
// refused" for an unreachable registry. Both runners use it.
func ExitError(code int, stderr []byte, subject string) error {
	why := strings.TrimSpace(ansiEscape.ReplaceAllString(tools.LastLines(stderr, errLines), ""))
	if len(why) > errBytes {
		why = "…" + strings.ToValidUTF8(why[len(why)-errBytes:], "")
	}
	if why == "" {
		why = "no error output"
	}
	return &model.ToolError{Tool: "syft", Err: fmt.Errorf("exit %d describing %s: %s", code, subject, why)}
}

// Request is one native SBOM generation.
type Request struct {
	Syft    string // syft binary
	Source  *image.Source
	Formats []Format
	// OutDir receives the SBOM files ("" keeps none: the SBOM is generated and checked only).
	OutDir  string
	Creds   image.Credentials
	Timeout time.Duration
	// WorkDir holds syft's scratch space (it unpacks every layer there), so a killed run leaves
	// nothing in the system temp dir ("" means the system temp dir).
	WorkDir string
	// Subject names the image in the SBOM and messages (default Source.Name()); the stage passes
	// the input as configured, so no absolute or temp path ends up in the SBOM.
	Subject string
	// Nice is syft's nice value when above 0 (tools.Cmd.Nice).
	Nice int
}

// Generate runs syft on the source and returns the stage result with the SBOMs as artifacts.
// Files appear in OutDir only complete and checked: syft writes to a temp dir, then rename.
func Generate(ctx context.Context, req Request) (*model.StageResult, error) {
	if len(req.Formats) == 0 {
		return nil, &model.InputError{Err: errors.New("sbom: no format selected")}
	}
	if req.OutDir != "" {
		// syft runs in the temp dir and gets absolute output paths: a relative reports dir would
		// resolve twice (once from here, once from syft's working directory).
		abs, err := filepath.Abs(req.OutDir)
		if err != nil {
			return nil, fmt.Errorf("sbom: reports dir: %w", err)
		}
		req.OutDir = abs
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("sbom: reports dir: %w", err)
		}
	}
	parent := req.OutDir
	tmp, err := os.MkdirTemp(parent, ".sbom-*")
	if err != nil {
		return nil, &model.ToolError{Tool: "syft", Err: fmt.Errorf("temp dir: %w", err)}
	}
	defer os.RemoveAll(tmp)
	timeout := req.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	subject := req.Subject
	if subject == "" {
		subject = req.Source.Name()
	}
	scratch, err := os.MkdirTemp(req.WorkDir, "syft-*")
	if err != nil {
		return nil, &model.ToolError{Tool: "syft", Err: fmt.Errorf("scratch dir: %w", err)}
	}
	defer os.RemoveAll(scratch)
	env := append(Env(), "TMPDIR="+scratch)
	env = append(env, tools.ImageGCEnv()...)
	env = append(env, req.Source.SyftEnv(req.Creds)...)
	res, err := tools.Run(ctx, "syft", tools.Cmd{
		Path: req.Syft, Args: Args(req.Source.SyftArg(), req.Formats, tmp, subject),
		Dir: tmp, Env: env, Timeout: timeout, Nice: req.Nice,
	})
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, ExitError(res.ExitCode, res.Stderr, subject)
	}
	outputs := map[string][]byte{}
	for _, f := range req.Formats {
		b, err := os.ReadFile(filepath.Join(tmp, f.File))
		if err != nil {
			return nil, &model.ToolError{Tool: "syft", Err: fmt.Errorf("no %s output: %w", f.Name, err)}
		}
		outputs[f.Name] = b
	}
	result, err := Result(subject, req.Formats, outputs)
	if err != nil {
		return nil, err
	}
	if req.OutDir == "" {
		result.Artifacts = nil
		return result, nil
	}
	for i, f := range req.Formats {
		dst := filepath.Join(req.OutDir, f.File)
		if err := os.Rename(filepath.Join(tmp, f.File), dst); err != nil {
			return nil, fmt.Errorf("sbom: store %s: %w", dst, err)
		}
		result.Artifacts[i].Path = dst
	}
	return result, nil
}

// Result checks syft's outputs (format name -> bytes) and builds the stage result: one artifact
// per format (Path is the file name; callers set where they stored it) and an INFO finding when
// the SBOM lists no package. Garbage output is a *model.ToolError.
func Result(subject string, formats []Format, outputs map[string][]byte) (*model.StageResult, error) {
	r := &model.StageResult{Stage: Name, Tool: Tool(), Findings: []model.Finding{}, Rules: Rules()}
	var first *Summary
	var specs []string
	for _, f := range formats {
		b, ok := outputs[f.Name]
		if !ok {
			return nil, &model.ToolError{Tool: "syft", Err: fmt.Errorf("no %s output", f.Name)}
		}
		s, err := Check(f, b)
		if err != nil {
			return nil, &model.ToolError{Tool: "syft", Err: err}
		}
		if first == nil {
			first = s
		}
		specs = append(specs, s.Spec)
		name := fmt.Sprintf("%s SBOM, %d packages", f.Spec, s.Packages)
		if t := s.TypesLine(); t != "" {
			name += " (" + t + ")"
		}
		r.Artifacts = append(r.Artifacts, model.Artifact{Name: name, Path: f.File, Type: f.MediaType})
	}
	if first.Packages == 0 {
		rule := Rules()[0]
		r.Findings = append(r.Findings, model.Finding{
			Stage: Name, RuleID: RuleEmpty, Severity: model.SeverityInfo, Title: "SBOM lists no packages",
			Message:  fmt.Sprintf("syft found no packages in %s: the SBOM is empty and a vulnerability scan has nothing to match", subject),
			Location: model.Location{Resource: subject}, Fix: rule.Fix,
		})
	}
	r.Summary = fmt.Sprintf("%d packages", first.Packages)
	if t := first.TypesLine(); t != "" {
		r.Summary += " (" + t + ")"
	}
	r.Summary += "; " + strings.Join(specs, ", ")
	return r, nil
}
