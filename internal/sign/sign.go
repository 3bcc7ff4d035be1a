// Package sign is the sign stage: after every gate passed, it signs the image by digest with the
// pinned cosign, with a private key or keylessly, and an index along with every platform
// manifest in it. The cosign-facing work lives in internal/cosign.
package sign

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Name is the stage name.
const Name = "sign"

// RecordFile is the artifact naming what was signed: the digest and every manifest of an index.
const RecordFile = "signed.json"

// Stage is the native sign stage. Its image is the one pushed in this run, else IMAGE, else
// sign.image; with no image, or no key and no keyless signing configured, it is skipped (but
// `tollgate sign IMAGE` without a key is an input error).
func Stage() stage.Stage {
	return stage.Stage{
		Name:       Name,
		Tool:       cosign.Tool(),
		Needs:      []string{"push"},
		AfterGates: true,
		OptIn:      func(c *config.Config, _ string) bool { return cosign.SigningConfigured(c, os.LookupEnv) },
		Usage:      "[IMAGE]",
		Short:      "Sign an image by digest with cosign (key or keyless); an index along with every platform manifest",
		Flags:      cosign.SigningFlags,
		Run:        run,
	}
}

func run(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
	cfg := env.Config
	refs, from := cosign.Targets(env, false, cfg.Sign.Image)
	if len(refs) == 0 {
		return skipped("no image to sign: nothing was pushed in this run; pass IMAGE or set sign.image in tollgate.yaml"), nil
	}
	if len(refs) > 1 {
		return nil, &model.InputError{Err: fmt.Errorf("sign takes one image, got %d", len(refs))}
	}
	signing, err := cosign.SigningFrom(cfg, env.Root, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if !signing.Material.Configured() {
		if from == cosign.FromArgs {
			return nil, &model.InputError{File: cfg.Path, Err: errors.New("sign: no signing key: pass --key FILE, set " + cosign.EnvKey + " or sign.key, or sign keylessly (--keyless)")}
		}
		return skipped("signing not configured: set sign.key (or " + cosign.EnvKey + ") or sign.keyless in tollgate.yaml"), nil
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
	progress(env, "signing "+subj.Describe()+manifestsNote(subj))
	dir, err := os.MkdirTemp(env.WorkDir, "sign-*")
	if err != nil {
		return nil, &model.ToolError{Tool: cosign.ToolName, Err: err}
	}
	defer os.RemoveAll(dir)
	if err := cosign.Sign(ctx, signing.Request(bin, dir, subj)); err != nil {
		return nil, err
	}
	if env.Shared != nil {
		env.Shared.Set(stage.KeySignedRef, subj.Ref())
	}
	what := fmt.Sprintf("signed %s%s with %s", subj.Ref(), manifestsNote(subj), signing.Material.KeyDescription())
	progress(env, what)
	res := &model.StageResult{Stage: Name, Tool: cosign.Tool(), Rules: cosign.Rules(), Findings: signing.Notices(subj, "signature")}
	if res.Findings == nil {
		res.Findings = []model.Finding{}
	}
	// The gate writes the summary; what was signed, by digest, goes into signed.json.
	res.Summary = what
	if env.OutDir != "" {
		art, err := cosign.WriteArtifact(env.OutDir, RecordFile, what, cosign.NewRecord(subj, signing).JSON())
		if err != nil {
			return nil, err
		}
		res.Artifacts = append(res.Artifacts, art)
	}
	return res, nil
}

func manifestsNote(s *cosign.Subject) string {
	if !s.IsIndex() {
		return ""
	}
	return fmt.Sprintf(" (index and its %d manifests)", len(s.Manifests))
}

func skipped(why string) *model.StageResult {
	return &model.StageResult{Stage: Name, Status: model.StatusSkipped, Tool: cosign.Tool(), Findings: []model.Finding{}, Error: why}
}

func progress(env *stage.Env, msg string) {
	if env.Progress != nil {
		env.Progress(Name, msg)
	}
}
