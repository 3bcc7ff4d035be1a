// Package attest is the attest stage: it attaches signed in-toto attestations to the image's
// digest with the pinned cosign: the SBOM (SPDX and/or CycloneDX, from the sbom stage), the
// vulnerability scan (cosign's vuln predicate from the scan stage's trivy report) and a SLSA
// provenance v1 predicate Tollgate writes from the run itself. In `tollgate run` it follows the
// sign stage and runs whenever signing is configured.
package attest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Name is the stage name.
const Name = "attest"

// Predicate names in attest.predicates.
const (
	PredSBOM       = "sbom"
	PredVuln       = "vuln"
	PredProvenance = "provenance"
)

// Artifacts the stage writes: the predicates Tollgate made itself, as attested.
const (
	ProvenanceFile = "provenance.slsa.json"
	VulnFile       = "vuln.cosign.json"
	// RecordFile names what was attested to which digest.
	RecordFile = "attested.json"
)

// Stage is the native attest stage.
func Stage() stage.Stage {
	return stage.Stage{
		Name:       Name,
		Tool:       cosign.Tool(),
		Needs:      []string{"push", "sign"},
		AfterGates: true,
		OptIn:      func(c *config.Config, _ string) bool { return cosign.SigningConfigured(c, os.LookupEnv) },
		Usage:      "[IMAGE]",
		Short:      "Attest an image by digest with cosign: SBOM, vulnerability scan and SLSA provenance (signed in-toto statements)",
		Flags:      flags,
		Run:        run,
	}
}

// attestation is one predicate ready to attach.
type attestation struct {
	typ    string // cosign type name
	data   []byte
	source string // where it came from, for messages
	file   string // artifact name when Tollgate wrote it ("" otherwise)
}

func run(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	cfg := env.Config
	refs, from := cosign.Targets(env, true, cfg.Sign.Image)
	if len(refs) == 0 {
		return skipped("no image to attest: nothing was pushed or signed in this run; pass IMAGE or set sign.image in tollgate.yaml"), nil
	}
	if len(refs) > 1 {
		return nil, &model.InputError{Err: fmt.Errorf("attest takes one image, got %d", len(refs))}
	}
	wanted, err := Predicates(cfg)
	if err != nil {
		return nil, err
	}
	signing, err := cosign.SigningFrom(cfg, env.Root, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if !signing.Material.Configured() {
		if from == cosign.FromArgs {
			return nil, &model.InputError{File: cfg.Path, Err: errors.New("attest: no signing key: pass --key FILE, set " + cosign.EnvKey + " or sign.key, or attest keylessly (--keyless)")}
		}
		return skipped("signing not configured: set sign.key (or " + cosign.EnvKey + ") or sign.keyless in tollgate.yaml"), nil
	}
	// Inputs named by the user are checked before anything reaches the registry.
	var results []*model.StageResult
	if env.Results != nil {
		results = env.Results()
	}
	var notices []model.Finding
	var sboms []attestation
	if wanted[PredSBOM] {
		if sboms, err = sbomInputs(env, results); err != nil {
			return nil, err
		}
	}
	var vulnReport []byte
	var vulnSource string
	var scanRes *model.StageResult
	if wanted[PredVuln] {
		if vulnReport, vulnSource, scanRes, err = vulnInput(env, results); err != nil {
			return nil, err
		}
	}
	if env.Tools == nil {
		return nil, &model.ToolError{Tool: cosign.ToolName, Err: errors.New("no tool installer configured")}
	}
	bin, err := env.Tools.Ensure(ctx, cosign.ToolName)
	if err != nil {
		return nil, &model.ToolError{Tool: cosign.ToolName, Err: err}
	}
	subj, err := cosign.Resolve(ctx, refs[0], signing.Registry)
	if err != nil {
		return nil, err
	}

	var todo []attestation
	if wanted[PredSBOM] {
		if len(sboms) == 0 {
			notices = append(notices, NotAttested(subj, PredSBOM, "no SBOM: the sbom stage did not run in this run or wrote none (run it, or name files in attest.sbom)"))
		}
		todo = append(todo, sboms...)
	}
	if wanted[PredVuln] {
		if vulnReport == nil {
			notices = append(notices, NotAttested(subj, PredVuln, "no vulnerability report: the scan stage did not run in this run or wrote none (run it, or name a trivy JSON report in attest.vuln-report)"))
		} else {
			ci := cosign.CIFromEnv(os.LookupEnv)
			pred, err := cosign.VulnPredicate(cosign.VulnInput{Report: vulnReport, Scan: scanRes, FailOn: cfg.FailOn("scan"), Subject: subj,
				BuilderID: builderID(cfg, ci), Repository: ci.Source.Repository})
			if err != nil {
				return nil, &model.InputError{File: vulnSource, Err: err}
			}
			todo = append(todo, attestation{typ: cosign.TypeVuln, data: pred, source: vulnSource, file: VulnFile})
		}
	}
	if wanted[PredProvenance] {
		pred, err := provenance(ctx, env, subj, results)
		if err != nil {
			return nil, err
		}
		todo = append(todo, attestation{typ: cosign.TypeProvenance, data: pred, source: "Tollgate", file: ProvenanceFile})
	}

	dir, err := os.MkdirTemp(env.WorkDir, "attest-*")
	if err != nil {
		return nil, &model.ToolError{Tool: cosign.ToolName, Err: err}
	}
	defer os.RemoveAll(dir)
	req := signing.Request(bin, dir, subj)
	var done []string
	record := cosign.NewRecord(subj, signing)
	res := &model.StageResult{Stage: Name, Tool: cosign.Tool(), Rules: cosign.Rules()}
	for _, a := range todo {
		progress(env, fmt.Sprintf("attesting %s (%s) to %s", a.typ, a.source, subj.Ref()))
		if err := cosign.Attest(ctx, req, a.typ, a.data, dir); err != nil {
			return nil, err
		}
		done = append(done, a.typ)
		pt, _ := cosign.LookupType(a.typ)
		record.Predicates = append(record.Predicates, cosign.RecordPred{Type: a.typ, URI: pt.URI, Source: a.source})
		if a.file != "" && env.OutDir != "" {
			art, err := cosign.WriteArtifact(env.OutDir, a.file, "attested "+a.typ+" predicate", a.data)
			if err != nil {
				return nil, err
			}
			res.Artifacts = append(res.Artifacts, art)
		}
	}
	res.Findings = append(signing.Notices(subj, "attestations"), notices...)
	if len(done) == 0 {
		res.Summary = "nothing attested to " + subj.Ref()
		if len(todo) == 0 && len(notices) == 0 {
			res.Summary += " (attest.predicates is empty)"
		}
	} else {
		res.Summary = fmt.Sprintf("attested %s to %s with %s", strings.Join(done, ", "), subj.Ref(), signing.Material.KeyDescription())
	}
	progress(env, res.Summary)
	if env.OutDir != "" && len(done) > 0 {
		art, err := cosign.WriteArtifact(env.OutDir, RecordFile, res.Summary, record.JSON())
		if err != nil {
			return nil, err
		}
		res.Artifacts = append(res.Artifacts, art)
	}
	if res.Findings == nil {
		res.Findings = []model.Finding{}
	}
	return res, nil
}

// Predicates reads attest.predicates; an unknown name is an input error.
func Predicates(cfg *config.Config) (map[string]bool, error) {
	out := map[string]bool{}
	for _, p := range cfg.Attest.Predicates {
		switch n := strings.ToLower(strings.TrimSpace(p)); n {
		case PredSBOM, PredVuln, PredProvenance:
			out[n] = true
		default:
			return nil, &model.InputError{File: cfg.Path, Err: fmt.Errorf("attest.predicates: unknown predicate %q (want sbom, vuln, provenance)", p)}
		}
	}
	return out, nil
}

// sbomInputs are the SBOMs to attest: attest.sbom files, else the sbom stage's artifacts.
func sbomInputs(env *stage.Env, results []*model.StageResult) ([]attestation, error) {
	var out []attestation
	if files := env.Config.Attest.SBOM; len(files) > 0 {
		for _, f := range files {
			b, err := os.ReadFile(env.Path(f))
			if err != nil {
				return nil, &model.InputError{File: f, Err: fmt.Errorf("SBOM to attest: %w", err)}
			}
			typ, err := cosign.DetectSBOM(b)
			if err != nil {
				return nil, &model.InputError{File: f, Err: err}
			}
			out = append(out, attestation{typ: typ, data: b, source: f})
		}
		return out, nil
	}
	for _, r := range stageResult(results, "sbom") {
		for _, a := range r.Artifacts {
			b, err := os.ReadFile(a.Path)
			if err != nil {
				return nil, &model.ToolError{Tool: "sbom", Err: fmt.Errorf("the sbom stage's %s is gone: %w", a.Path, err)}
			}
			typ, err := cosign.DetectSBOM(b)
			if err != nil {
				continue // not an SBOM artifact
			}
			out = append(out, attestation{typ: typ, data: b, source: "sbom stage, " + filepath.Base(a.Path)})
		}
	}
	return out, nil
}

// vulnInput is the trivy report to attest: attest.vuln-report, else the scan stage's report
// (with its gated result, whose suppressions the predicate records).
func vulnInput(env *stage.Env, results []*model.StageResult) ([]byte, string, *model.StageResult, error) {
	if f := env.Config.Attest.VulnReport; f != "" {
		b, err := os.ReadFile(env.Path(f))
		if err != nil {
			return nil, "", nil, &model.InputError{File: f, Err: fmt.Errorf("vulnerability report to attest: %w", err)}
		}
		return b, f, nil, nil
	}
	for _, r := range stageResult(results, "scan") {
		for _, a := range r.Artifacts {
			if a.Type != "application/json" {
				continue
			}
			b, err := os.ReadFile(a.Path)
			if err != nil {
				return nil, "", nil, &model.ToolError{Tool: "scan", Err: fmt.Errorf("the scan stage's %s is gone: %w", a.Path, err)}
			}
			return b, "scan stage, " + filepath.Base(a.Path), r, nil
		}
	}
	return nil, "", nil, nil
}

// stageResult returns the named stage's result if it ran and passed (a release stage only runs
// when the gates passed, but a result given by a caller may say otherwise).
func stageResult(results []*model.StageResult, name string) []*model.StageResult {
	for _, r := range results {
		if r.Stage == name && (r.Status == model.StatusPass || r.Status == "") {
			return []*model.StageResult{r}
		}
	}
	return nil
}

func provenance(ctx context.Context, env *stage.Env, subj *cosign.Subject, results []*model.StageResult) ([]byte, error) {
	ci := cosign.CIFromEnv(os.LookupEnv)
	src, gitErr := cosign.SourceFromGit(ctx, env.Root)
	if gitErr != nil {
		src = ci.Source
		progress(env, "provenance: source revision from the CI environment ("+shortErr(gitErr)+")")
	} else if ci.Source.Repository != "" {
		src.Repository = ci.Source.Repository // the CI's canonical URL over a local remote name
		if src.Ref == "" {
			src.Ref = ci.Source.Ref
		}
	}
	now := env.Now()
	started := env.Started
	if started.IsZero() {
		started = now
	}
	in := cosign.ProvenanceInput{Subject: subj, Source: src, BuilderID: builderID(env.Config, ci), Results: results, Started: started, Finished: now}
	if p := env.Config.Path; p != "" {
		if b, err := os.ReadFile(p); err == nil {
			in.Config = b
			in.ConfigFile = filepath.Base(p)
		}
	}
	b, err := cosign.Provenance(in)
	if err != nil {
		return nil, &model.ToolError{Tool: "tollgate", Err: err}
	}
	return b, nil
}

func builderID(cfg *config.Config, ci cosign.CI) string {
	if cfg.Attest.BuilderID != "" {
		return cfg.Attest.BuilderID
	}
	return ci.BuilderID
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}

// NotAttested is the finding for a predicate in attest.predicates that was not written because
// its input is missing (both runners report it the same way).
func NotAttested(subj *cosign.Subject, pred, why string) model.Finding {
	r := ruleOf(cosign.RuleNotAttested)
	return model.Finding{RuleID: r.ID, Severity: r.Severity, Title: "Attestation not written", Fix: r.Fix, URL: r.URL,
		Message: fmt.Sprintf("%s not attested to %s: %s", pred, subj.Ref(), why), Location: model.Location{Resource: subj.Ref()},
		Extra: map[string]string{"predicate": pred}}
}

func ruleOf(id string) model.Rule {
	for _, r := range cosign.Rules() {
		if r.ID == id {
			return r
		}
	}
	return model.Rule{ID: id}
}

func skipped(why string) *model.StageResult {
	return &model.StageResult{Stage: Name, Status: model.StatusSkipped, Tool: cosign.Tool(), Findings: []model.Finding{}, Error: why}
}

func progress(env *stage.Env, msg string) {
	if env.Progress != nil {
		env.Progress(Name, msg)
	}
}

// flags registers `tollgate attest` flags: the signing flags it shares with `tollgate sign`,
// plus its inputs. Only flags the user set override tollgate.yaml.
func flags(fs *pflag.FlagSet) func(c *config.Config) {
	signing := cosign.SigningFlags(fs)
	sboms := fs.StringArray("sbom", nil, "SBOM file to attest (SPDX or CycloneDX JSON; repeatable); default: this run's sbom stage output")
	vuln := fs.String("vuln-report", "", "trivy JSON report to attest; default: this run's scan stage output")
	preds := fs.StringSlice("predicates", nil, "predicates to attest, comma-separated: sbom, vuln, provenance (default all)")
	return func(c *config.Config) {
		signing(c)
		if fs.Changed("sbom") {
			c.Attest.SBOM = *sboms
		}
		if fs.Changed("vuln-report") {
			c.Attest.VulnReport = *vuln
		}
		if fs.Changed("predicates") {
			c.Attest.Predicates = *preds
		}
	}
}
