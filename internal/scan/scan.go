// Package scan is the image vulnerability stage: trivy scans the image itself (not syft's SBOM,
// which loses OS findings; see docs/scanning.md), Tollgate parses trivy's JSON into findings and
// applies VEX and .trivyignore as visible suppressions before the gate.
package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/sbom"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Name is the stage name.
const Name = "scan"

// ReportFile is the raw trivy JSON report written to the output dir.
const ReportFile = "trivy.json"

// niceBesideSBOM is the nice value trivy runs at when the sbom stage runs beside it.
const niceBesideSBOM = 10

// Tool is trivy at its pinned version.
func Tool() model.Tool {
	return model.Tool{Name: "trivy", Version: tools.MustGet("trivy").Version}
}

// OptionsFrom reads the scan options from the config; a bad duration is a *model.InputError.
func OptionsFrom(c *config.Config, root string) (Options, error) {
	s := c.Scan
	o := Options{Offline: s.DB.Offline, DBRepository: s.DB.Repository, Severities: s.Severities, IgnoreUnfixed: s.IgnoreUnfixed}
	if s.DB.CacheDir != "" {
		o.CacheDir = s.DB.CacheDir
		if !filepath.IsAbs(o.CacheDir) {
			o.CacheDir = filepath.Join(root, o.CacheDir)
		}
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil || d <= 0 {
			return o, &model.InputError{File: c.Path, Err: fmt.Errorf("scan.timeout: %q is not a positive Go duration (e.g. 10m)", s.Timeout)}
		}
		o.Timeout = d
	}
	if s.DB.MaxAge != "" {
		d, err := ParseAge(s.DB.MaxAge)
		if err != nil {
			return o, &model.InputError{File: c.Path, Err: fmt.Errorf("scan.db.max-age: %w", err)}
		}
		o.MaxDBAge = d
	}
	return o, nil
}

// Suppressions are the user's VEX documents and .trivyignore rules.
type Suppressions struct {
	VEX     []*VEXDoc
	Ignores []IgnoreRule
}

// LoadSuppressions reads the configured VEX files and the ignore file (scan.trivyignore, else
// .trivyignore or .trivyignore.yaml at the root when present). A configured file that is
// missing or malformed is a *model.InputError.
func LoadSuppressions(root string, c *config.Config) (Suppressions, error) {
	var s Suppressions
	resolve := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	for _, p := range c.Scan.VEX {
		b, err := os.ReadFile(resolve(p))
		if err != nil {
			return s, &model.InputError{File: p, Err: fmt.Errorf("read VEX document: %w", err)}
		}
		d, err := ParseVEX(p, b)
		if err != nil {
			return s, err
		}
		s.VEX = append(s.VEX, d)
	}
	ignore := c.Scan.TrivyIgnore
	if ignore == "" {
		for _, def := range []string{".trivyignore", ".trivyignore.yaml"} {
			if _, err := os.Stat(resolve(def)); err == nil {
				ignore = def
				break
			}
		}
	}
	if ignore != "" {
		b, err := os.ReadFile(resolve(ignore))
		if err != nil {
			return s, &model.InputError{File: ignore, Err: fmt.Errorf("read ignore file: %w", err)}
		}
		rules, err := ParseTrivyIgnore(ignore, b)
		if err != nil {
			return s, err
		}
		s.Ignores = rules
	}
	return s, nil
}

// Apply marks suppressed findings: VEX first (a supplier's statement), then .trivyignore.
// The config ignore list and expiry are the gate's (gate.Apply).
func (s Suppressions) Apply(findings []model.Finding, subj Subject) {
	ApplyVEX(findings, s.VEX, subj)
	ApplyIgnores(findings, s.Ignores)
}

// Request is one native trivy run.
type Request struct {
	Trivy   string // trivy binary
	Source  *image.Source
	Options Options
	WorkDir string   // scratch dir: trivy's working dir (so it never picks up a stray .trivyignore) and its report
	Env     []string // extra environment, e.g. registry credentials
	Nice    int      // trivy's nice value when above 0 (tools.Cmd.Nice)
}

// Run executes `trivy image` and parses its report. Crash, timeout, a non-zero exit or garbage
// output is a *model.ToolError (the stage fails closed). It returns the raw JSON too.
func Run(ctx context.Context, req Request) (*Report, []byte, error) {
	out := filepath.Join(req.WorkDir, ReportFile)
	os.Remove(out)
	res, err := tools.Run(ctx, "trivy", tools.Cmd{
		Path:    req.Trivy,
		Args:    ImageArgs(req.Options, req.Source.TrivyArgs(), out),
		Dir:     req.WorkDir,
		Env:     append(tools.ImageGCEnv(), req.Env...),
		Timeout: req.Options.Timeout,
		Nice:    req.Nice,
	})
	if err != nil {
		return nil, nil, err
	}
	if res.ExitCode != 0 {
		return nil, nil, ExitError(res.ExitCode, res.Stderr, req.Source.Name())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, nil, &model.ToolError{Tool: "trivy", Err: fmt.Errorf("exited 0 but wrote no report: %w", err)}
	}
	r, err := ParseReport(raw)
	if err != nil {
		return nil, nil, err
	}
	return r, raw, nil
}

// ExitError explains a non-zero trivy exit (with --exit-code 0 trivy only fails on errors): a DB
// problem as ErrDBUnavailable, anything else as a tool failure with the end of stderr.
func ExitError(code int, stderr []byte, subject string) error {
	if dbErr := trivyDBError(string(stderr)); dbErr != nil {
		return dbErr
	}
	if strings.Contains(string(stderr), "in use by another process") {
		return &model.ToolError{Tool: "trivy", Err: fmt.Errorf("exited %d scanning %s: its cache dir is locked by another trivy process "+
			"(trivy waits 5s); run one scan per cache dir at a time or give each its own scan.db.cache-dir: %s", code, subject, tools.LastLines(stderr, 1))}
	}
	return &model.ToolError{Tool: "trivy", Err: fmt.Errorf("exited %d scanning %s: %s", code, subject, tools.LastLines(stderr, 5))}
}

// SubjectOf names the scanned image for VEX matching.
func SubjectOf(src *image.Source, r *Report) Subject {
	s := Subject{Names: []string{src.Input, src.Ref}, Digest: src.Digest}
	if r != nil {
		s.Names = append(s.Names, r.ArtifactName)
		s.Names = append(s.Names, r.Metadata.RepoDigests...)
	}
	return s
}

// registryEnv hands registry credentials to trivy in its own environment variables (tools.Run
// starts tools with a minimal environment), never in arguments: Tollgate's
// TOLLGATE_REGISTRY_USERNAME/PASSWORD for the image's registry, else trivy's own TRIVY_* ones.
func registryEnv(src *image.Source) []string {
	if env := src.TrivyEnv(image.CredentialsFromEnv()); env != nil {
		return env
	}
	var env []string
	for _, k := range []string{"TRIVY_USERNAME", "TRIVY_PASSWORD", "TRIVY_REGISTRY_TOKEN"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Stage is the native scan stage. Its input is the image in env.Args[0], else scan.image.
func Stage() stage.Stage {
	return stage.Stage{
		Name:  Name,
		Tool:  Tool(),
		Needs: []string{"build"}, // scan the image built in this run, when there is one
		Usage: "[IMAGE]",
		Short: "Scan an image (tarball, OCI layout or registry reference) for known vulnerabilities with trivy",
		Flags: flags,
		Run:   runStage,

		CacheKey: cacheKey,
	}
}

func runStage(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	start := time.Now()
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	cfg := env.Config
	input := cfg.Scan.Image
	if b := env.BuiltImage(); b != nil {
		input = b.Archive
	}
	if len(env.Args) > 0 {
		input = env.Args[0]
	}
	if input == "" {
		return &model.StageResult{Stage: Name, Status: model.StatusSkipped, Tool: Tool(), Findings: []model.Finding{},
			Error: "no image to scan: pass one (tollgate scan IMAGE) or set scan.image in tollgate.yaml"}, nil
	}
	opts, err := OptionsFrom(cfg, env.Root)
	if err != nil {
		return nil, err
	}
	sup, err := LoadSuppressions(env.Root, cfg)
	if err != nil {
		return nil, err
	}
	progress := func(msg string) {
		if env.Progress != nil {
			env.Progress(Name, msg)
		}
	}
	workDir, err := os.MkdirTemp("", "tollgate-scan-*")
	if err != nil {
		return nil, &model.ToolError{Tool: "trivy", Err: err}
	}
	defer os.RemoveAll(workDir)

	// Bad input is reported before infrastructure problems: the input is what the user fixes first.
	if p := env.Path(input); !strings.Contains(input, "://") {
		if _, err := os.Stat(p); err == nil {
			input = p
		}
	}
	var src *image.Source
	if env.WorkDir != "" {
		// Run-scoped scratch: the image is opened once for sbom and scan running side by side.
		src, err = image.Shared(ctx, env.Shared, input, env.WorkDir)
	} else {
		src, err = image.Open(ctx, input, workDir)
	}
	if err != nil {
		return nil, err
	}
	if src.Note != "" {
		progress(src.Note)
	}
	if opts.Offline {
		if _, err := CheckOfflineDB(opts.CacheDir, opts.MaxDBAge, now()); err != nil {
			return nil, err
		}
	}
	if env.Tools == nil {
		return nil, &model.ToolError{Tool: "trivy", Err: errors.New("no tool installer configured")}
	}
	trivy, err := env.Tools.Ensure(ctx, "trivy")
	if err != nil {
		return nil, &model.ToolError{Tool: "trivy", Err: err}
	}
	progress("scanning " + src.Name() + " with trivy " + Tool().Version)
	// Beside the sbom stage, syft sets the pace: it catalogs every file (digests, licenses), while
	// trivy runs vulnerability scanners only and finishes in about half the time. Lowering
	// trivy's priority gives syft the cores it wants and trivy the rest, instead of both slowing
	// (sbom+scan 2.2 s -> 2.0 s on the benchmark image, where syft alone takes 2.0 s).
	nice := 0
	if env.Runs(sbom.Name) {
		nice = niceBesideSBOM
	}
	var trivySrc *image.Source
	tools.Niced(nice, func() { trivySrc = forTrivy(ctx, src, workDir, progress) }) // trivy's copy of the image too
	report, raw, err := Run(ctx, Request{Trivy: trivy, Source: trivySrc, Options: opts, WorkDir: workDir, Env: registryEnv(src), Nice: nice})
	if err != nil {
		return nil, err
	}
	res := &model.StageResult{Stage: Name, Tool: Tool(), Findings: report.Findings()}
	sup.Apply(res.Findings, SubjectOf(src, report))
	if out := cmp.Or(env.OutDir, env.WorkDir); out != "" { // the run's scratch dir keeps it for attest
		path := filepath.Join(out, ReportFile)
		if err := writeAtomic(path, raw); err != nil {
			return nil, &model.ToolError{Tool: "trivy", Err: err}
		}
		res.Artifacts = append(res.Artifacts, model.Artifact{Name: "trivy report", Path: path, Type: "application/json"})
	}
	res.Duration = time.Since(start)
	return res, nil
}

// forTrivy hands trivy a docker archive as an OCI layout (image.DockerArchiveLayout): one pass
// over the archive instead of trivy's several. The layout lives in the stage's work dir; if it
// cannot be made, trivy reads the archive itself.
func forTrivy(ctx context.Context, src *image.Source, workDir string, progress func(string)) *image.Source {
	if src.Kind != image.KindDockerArchive {
		return src
	}
	dir, err := image.DockerArchiveLayout(ctx, src, workDir)
	if err != nil {
		progress("reading the docker archive directly: " + err.Error())
		return src
	}
	layout := *src
	layout.Path = dir
	return &layout
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// flags registers `tollgate scan` flags; only flags the user set override tollgate.yaml.
func flags(fs *pflag.FlagSet) func(c *config.Config) {
	sev := &severityList{}
	fs.Var(sev, "severities", "severities to report, comma-separated (CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN; default all)")
	failOn := &severityList{}
	fs.Var(failOn, "scan-fail-on", "lowest severity that fails the scan gate (default HIGH)")
	unfixed := fs.Bool("ignore-unfixed", false, "drop vulnerabilities that have no fixed version")
	vexFiles := fs.StringArray("vex", nil, "OpenVEX document; not_affected/fixed statements suppress findings (repeatable)")
	ignore := fs.String("trivyignore", "", "ignore file (.trivyignore or .trivyignore.yaml)")
	repo := fs.String("db-repository", "", "OCI repository mirroring trivy's vulnerability DB")
	offline := fs.String("offline-db", "", "trivy cache dir holding db/trivy.db: scan offline with it (air-gapped)")
	maxAge := fs.String("db-max-age", "", "oldest acceptable offline DB (e.g. 7d, 48h)")
	timeout := fs.String("scan-timeout", "", "scan timeout (Go duration, default 10m)")
	return func(c *config.Config) {
		if fs.Changed("severities") {
			c.Scan.Severities = sev.list
		}
		if fs.Changed("scan-fail-on") && len(failOn.list) > 0 {
			c.Scan.FailOn = failOn.list[len(failOn.list)-1]
		}
		if fs.Changed("ignore-unfixed") {
			c.Scan.IgnoreUnfixed = *unfixed
		}
		if fs.Changed("vex") {
			c.Scan.VEX = *vexFiles
		}
		if fs.Changed("trivyignore") {
			c.Scan.TrivyIgnore = *ignore
		}
		if fs.Changed("db-repository") {
			c.Scan.DB.Repository = *repo
		}
		if fs.Changed("offline-db") {
			c.Scan.DB.Offline, c.Scan.DB.CacheDir = true, *offline
		}
		if fs.Changed("db-max-age") {
			c.Scan.DB.MaxAge = *maxAge
		}
		if fs.Changed("scan-timeout") {
			c.Scan.Timeout = *timeout
		}
	}
}

// severityList is a flag value that rejects unknown severity names when the flag is parsed.
type severityList struct{ list []model.Severity }

func (l *severityList) String() string {
	var names []string
	for _, s := range l.list {
		names = append(names, s.String())
	}
	return strings.Join(names, ",")
}

func (l *severityList) Set(v string) error {
	l.list = nil
	for _, part := range strings.Split(v, ",") {
		s, err := model.ParseSeverity(part)
		if err != nil {
			return err
		}
		l.list = append(l.list, s)
	}
	return nil
}

func (l *severityList) Type() string { return "severities" }
