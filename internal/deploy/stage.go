package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// RecordName is the artifact that says what a deploy did to each object.
const RecordName = "deploy.json"

// VerifierFactory builds the image verifier for a run from its environment (the verification
// policy lives in the config).
type VerifierFactory func(ctx context.Context, env *stage.Env) (ImageVerifier, error)

// Stage is the native deploy stage, verifying images with cosign under tollgate.yaml's verify
// section before anything is applied.
func Stage() stage.Stage { return NewStage(cosignVerifier) }

// NewStage is the deploy stage with the given image verifier.
func NewStage(newVerifier VerifierFactory) stage.Stage {
	return stage.Stage{
		Name:       Name,
		Tool:       Tool(),
		Usage:      "[PATH...]",
		Short:      "Deploy Kubernetes manifests: verify images, server-side dry-run, server-side apply, wait for rollouts",
		Flags:      flags,
		AfterGates: true,
		// Last: after the image is pushed (its digest pins the manifests), signed, attested and
		// verified in this run.
		Needs: []string{"push", "sign", "attest", "verify"},
		OptIn: func(c *config.Config, root string) bool {
			_, ok := TargetFrom(c, root)
			return ok
		},
		Run: func(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
			return run(ctx, env, newVerifier)
		},
	}
}

func flags(fs *pflag.FlagSet) func(c *config.Config) {
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (overrides deploy.kubeconfig and KUBECONFIG)")
	kctx := fs.String("context", "", "kubeconfig context to deploy to (default: its current context)")
	ns := fs.String("namespace", "", "namespace for objects that name none (default: the context's, else default)")
	dry := fs.Bool("dry-run", false, "only let the API server judge the objects (--dry-run=server); persist nothing")
	prune := fs.Bool("prune", false, "delete objects this ApplySet applied before and the manifests no longer hold")
	verify := fs.Bool("verify", true, "refuse images whose signatures or attestations do not verify (false: deploy unverified, reported as a finding)")
	pin := fs.Bool("pin-images", true, "rewrite references to the pushed repository to its digest")
	imageRef := fs.String("image-ref", "", "pushed image repo@sha256:... to pin to (default: what the push stage pushed in this run)")
	timeout := fs.String("deploy-timeout", "", "how long to wait for rollouts and CRDs (Go duration, default 5m)")
	return func(c *config.Config) {
		d := &c.Deploy
		if fs.Changed("kubeconfig") {
			d.Kubeconfig = *kubeconfig
		}
		if fs.Changed("context") {
			d.Context = *kctx
		}
		if fs.Changed("namespace") {
			d.Namespace = *ns
		}
		if fs.Changed("dry-run") {
			d.DryRun = *dry
		}
		if fs.Changed("prune") {
			d.Prune = *prune
		}
		if fs.Changed("verify") {
			d.Verify = verify
		}
		if fs.Changed("pin-images") {
			d.PinImages = pin
		}
		if fs.Changed("image-ref") {
			d.ImageRef = *imageRef
		}
		if fs.Changed("deploy-timeout") {
			d.Timeout = *timeout
		}
	}
}

// Paths are the manifests to deploy: the stage's arguments, else deploy.paths, else the
// validate stage's paths (the manifests the gates checked).
func Paths(env *stage.Env) []string {
	if len(env.Args) > 0 {
		return env.Args
	}
	return ConfigPaths(env.Config)
}

// ConfigPaths are the manifest paths from tollgate.yaml: deploy.paths, else validate.paths.
func ConfigPaths(c *config.Config) []string {
	if len(c.Deploy.Paths) > 0 {
		return c.Deploy.Paths
	}
	return c.Validate.Paths
}

// TargetFrom names the cluster from the config and the environment: deploy.kubeconfig (relative
// to root), else $KUBECONFIG; with only a context named, kubectl's default file. ok is false when
// nothing names a cluster: the stage never deploys to ~/.kube/config's current context unasked.
func TargetFrom(c *config.Config, root string) (t Target, ok bool) {
	t = Target{Kubeconfig: c.Deploy.Kubeconfig, Context: c.Deploy.Context, Namespace: c.Deploy.Namespace}
	switch {
	case t.Kubeconfig != "":
		if !filepath.IsAbs(t.Kubeconfig) && root != "" {
			t.Kubeconfig = filepath.Join(root, t.Kubeconfig)
		}
	case os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "":
		t.Kubeconfig = os.Getenv(clientcmd.RecommendedConfigPathEnvVar)
	case t.Context != "":
		t.Kubeconfig = clientcmd.RecommendedHomeFile
	default:
		return t, false
	}
	return t, true
}

// OptionsFrom reads the deploy options from the config; bad values are a *model.InputError.
// published is the pushed reference to pin to when deploy.image-ref is not set ("" for none).
func OptionsFrom(c *config.Config, published string) (Options, error) {
	o := Options{DryRun: c.Deploy.DryRun, Verify: *c.Deploy.Verify, Prune: c.Deploy.Prune, ApplySet: c.Deploy.ApplySet}
	t, err := time.ParseDuration(c.Deploy.Timeout)
	if err != nil || t <= 0 {
		return o, &model.InputError{File: c.Path, Err: fmt.Errorf("deploy.timeout: %q is not a positive Go duration (e.g. 5m)", c.Deploy.Timeout)}
	}
	o.Timeout = t
	if *c.Deploy.PinImages {
		ref := c.Deploy.ImageRef
		if ref == "" {
			ref = published
		}
		if ref != "" {
			if o.Pin, err = NewPinning(ref); err != nil {
				return o, &model.InputError{File: c.Path, Err: fmt.Errorf("deploy: %w", err)}
			}
		}
	}
	return o, nil
}

// GateCheck is the deploy's WouldFail: it runs the gate (threshold and ignores of cfg) on a copy
// of the findings so far.
func GateCheck(cfg *config.Config, now time.Time) func(*model.StageResult) bool {
	return func(r *model.StageResult) bool {
		cp := *r
		cp.Findings = make([]model.Finding, len(r.Findings))
		for i, f := range r.Findings {
			f.Extra = maps.Clone(f.Extra)
			cp.Findings[i] = f
		}
		gate.Apply(&cp, cfg, now)
		return cp.Status == model.StatusFail
	}
}

func run(ctx context.Context, env *stage.Env, newVerifier VerifierFactory) (*model.StageResult, error) {
	target, ok := TargetFrom(env.Config, env.Root)
	if !ok {
		return &model.StageResult{Stage: Name, Tool: Tool(), Status: model.StatusSkipped, Findings: []model.Finding{},
			Error: "no cluster named: set deploy.kubeconfig or deploy.context in tollgate.yaml, --kubeconfig/--context, or KUBECONFIG"}, nil
	}
	paths := Paths(env)
	if len(env.Args) == 0 && len(env.Config.Deploy.Paths) == 0 && env.Config.Validate.Discovered && len(paths) == 0 {
		return stage.NoManifests(Name, Tool(), "set deploy.paths or validate.paths in tollgate.yaml"), nil
	}
	defaulted := len(env.Config.Deploy.Paths) == 0 && env.Config.Validate.PathsDefaulted
	if r := env.SkipMissingDefaults(Name, Tool(), defaulted, paths, "set deploy.paths or validate.paths in tollgate.yaml"); r != nil {
		return r, nil
	}
	published := ""
	if env.Shared != nil {
		if v, ok := env.Shared.Get(stage.KeyPublishedRef); ok {
			published, _ = v.(string)
		}
	}
	opts, err := OptionsFrom(env.Config, published)
	if err != nil {
		return nil, err
	}
	// The same loader as validate and score (charts rendered with the pinned helm, shared per
	// run), so every stage judges the same objects.
	docs, err := (&manifest.Loader{Root: env.Root, Helm: manifest.EnvHelm(env, env.Config.Validate.KubernetesVersion)}).Load(ctx, paths)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, &model.InputError{Err: fmt.Errorf("no Kubernetes manifests found in %s", strings.Join(paths, ", "))}
	}
	cluster, err := Resolve(target)
	if err != nil {
		return nil, err
	}
	d := &Deployer{Cluster: cluster, Options: opts}
	if env.Now == nil {
		env.Now = time.Now
	}
	d.WouldFail = GateCheck(env.Config, env.Now())
	if env.Progress != nil {
		d.Progress = func(msg string) { env.Progress(Name, msg) }
	}
	if opts.Verify && newVerifier != nil {
		if d.Verifier, err = newVerifier(ctx, env); err != nil {
			return nil, err
		}
	}
	res, rec, err := d.Deploy(ctx, docs)
	if err != nil {
		return nil, err
	}
	if env.OutDir != "" {
		a, err := WriteRecord(env.OutDir, rec)
		if err != nil {
			return nil, err
		}
		res.Artifacts = append(res.Artifacts, a)
	}
	return res, nil
}

// WriteRecord writes the deploy record as deploy.json into dir.
func WriteRecord(dir string, rec *Record) (model.Artifact, error) {
	if rec == nil {
		return model.Artifact{}, errors.New("no deploy record")
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return model.Artifact{}, &model.ToolError{Tool: Tool().Name, Err: fmt.Errorf("encode %s: %w", RecordName, err)}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return model.Artifact{}, &model.ToolError{Tool: Tool().Name, Err: fmt.Errorf("create %s: %w", dir, err)}
	}
	p := filepath.Join(dir, RecordName)
	if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
		return model.Artifact{}, &model.ToolError{Tool: Tool().Name, Err: fmt.Errorf("write %s: %w", RecordName, err)}
	}
	return model.Artifact{Name: RecordName, Path: p, Type: "application/json"}, nil
}
