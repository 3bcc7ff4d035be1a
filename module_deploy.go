package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/deploy"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Deploy applies the project's Kubernetes manifests to a cluster: images are verified first,
// the API server and its admission chain judge every object in a server-side dry-run, then
// server-side apply (field manager "tollgate") creates or updates them, Namespaces and CRDs
// first, and the stage waits for Deployments, StatefulSets, DaemonSets and Jobs to roll out.
// Nothing is applied when verification or the dry-run finds a problem the gate fails on.
// client-go runs in the module's own runtime: no kubectl image, no tool process, and the
// kubeconfig never leaves memory.
//
// +cache="never"
func (m *Tollgate) Deploy(
	ctx context.Context,
	// Kubeconfig of the target cluster. Read in memory by the module's own client; never written
	// to disk or passed to a process. Credential plugins (exec, auth-provider) are refused: use a
	// token or client certificate.
	kubeconfig *dagger.Secret,
	// Manifest files or directories (kustomizations too), relative to the source root; default
	// from tollgate.yaml (deploy.paths, else validate.paths, else k8s).
	// +optional
	paths []string,
	// Kubeconfig context; default its current context (or tollgate.yaml's deploy.context).
	// +optional
	kubeContext string,
	// Namespace for objects that name none; default deploy.namespace, else the context's.
	// +optional
	namespace string,
	// Only let the API server judge the objects (server-side dry-run); persist nothing.
	// +optional
	dryRun bool,
	// Delete objects this ApplySet applied before and the manifests no longer hold.
	// +optional
	prune bool,
	// Pushed image (repo@sha256:...): references to its repository are pinned to this digest.
	// +optional
	imageRef string,
	// Verify image signatures and attestations before deploying; false deploys unverified images
	// and reports that as a finding.
	// +default=true
	verify bool,
	// How long to wait for rollouts and CRDs (Go duration); default deploy.timeout (5m).
	// +optional
	timeout string,
	// Trusted cosign public key for the image verification; default verify.key from tollgate.yaml.
	// +optional
	publicKey *dagger.File,
	// Keyless: the signing certificate's identity the images must carry (exact).
	// +optional
	certificateIdentity string,
	// Keyless: the OIDC issuer of that identity, e.g. https://token.actions.githubusercontent.com.
	// +optional
	certificateOidcIssuer string,
	// Accept signatures without a transparency log entry (reported as a finding).
	// +optional
	insecureIgnoreTlog bool,
	// Registry username for verifying the images.
	// +optional
	registryUsername string,
	// Registry password or token for verifying the images.
	// +optional
	registryPassword *dagger.Secret,
	// Allow plain HTTP to a registry on a loopback or private address when verifying.
	// +optional
	allowHttpRegistry bool,
) (*StageReport, error) {
	trust := verifyInputs{publicKey: publicKey, identity: certificateIdentity, issuer: certificateOidcIssuer, ignoreTlog: insecureIgnoreTlog,
		user: registryUsername, password: registryPassword, allowHTTP: allowHttpRegistry}
	return m.stage(ctx, deploy.Name, deploy.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		deployArgs(cfg, kubeContext, namespace, dryRun, prune, imageRef, verify, timeout)
		res, _, err := m.deploy(ctx, cfg, deployInputs{kubeconfig: kubeconfig, paths: paths, trust: trust})
		return res, err
	})
}

// deployArgs lets the function's arguments override tollgate.yaml. Booleans can only switch
// on (dry-run, prune) or off (verify) what the file says, since an unset argument is false.
func deployArgs(cfg *config.Config, kubeContext, namespace string, dryRun, prune bool, imageRef string, verify bool, timeout string) {
	d := &cfg.Deploy
	if kubeContext != "" {
		d.Context = kubeContext
	}
	if namespace != "" {
		d.Namespace = namespace
	}
	if dryRun {
		d.DryRun = true
	}
	if prune {
		d.Prune = true
	}
	if imageRef != "" {
		d.ImageRef = imageRef
	}
	if !verify {
		off := false
		d.Verify = &off
	}
	if timeout != "" {
		d.Timeout = timeout
	}
}

// deployInputs are what a deploy works on besides the config.
type deployInputs struct {
	kubeconfig *dagger.Secret
	paths      []string
	// trust verifies the images (deploy.verify); its refs are the deployed images.
	trust verifyInputs
	// published is the reference pushed in this run, which images are pinned to (deploy.pin-images).
	published string
	// discover finds the manifests when tollgate.yaml names none, as `tollgate run` does (a
	// deploy on its own, like `tollgate deploy`, looks in the default path only).
	discover bool
}

// deploy loads the manifests with the shared loader in the module runtime and runs the shared
// deployer against the cluster the kubeconfig names, verifying images with cosign in its image.
// It also returns the deploy record (deploy.json).
func (m *Tollgate) deploy(ctx context.Context, cfg *config.Config, in deployInputs) (*model.StageResult, []byte, error) {
	opts, err := deploy.OptionsFrom(cfg, in.published)
	if err != nil {
		return nil, nil, err
	}
	paths := in.paths
	explicit := len(paths) > 0
	defaulted := !explicit && len(cfg.Deploy.Paths) == 0 && cfg.Validate.PathsDefaulted
	if !explicit {
		paths = deploy.ConfigPaths(cfg)
	}
	if err := insideSource(paths); err != nil {
		return nil, nil, err
	}
	sc, err := newScratch(deploy.Tool().Name, "deploy")
	if err != nil {
		return nil, nil, err
	}
	defer sc.remove()
	root, err := sc.source(ctx, m, "src")
	if err != nil {
		return nil, nil, err
	}
	if !explicit {
		paths = nil
	}
	if paths, err = manifestPaths(ctx, cfg, root, paths, deploy.ConfigPaths, defaulted && in.discover); err != nil {
		return nil, nil, sc.scrub(err, root)
	}
	if defaulted && in.discover && len(paths) == 0 {
		return nothingDiscovered(deploy.Name, deploy.Tool()), nil, nil
	}
	if r := (&stage.Env{Root: root}).SkipMissingDefaults(deploy.Name, deploy.Tool(), defaulted && !in.discover, paths, "set deploy.paths or validate.paths in tollgate.yaml"); r != nil {
		return r, nil, nil
	}
	docs, err := manifest.Load(ctx, paths, root)
	if err != nil {
		return nil, nil, sc.scrub(fmt.Errorf("deploy: %w", err), root)
	}
	if len(docs) == 0 {
		return nil, nil, &model.InputError{Err: fmt.Errorf("no Kubernetes manifests found in %s", strings.Join(paths, ", "))}
	}
	for i := range docs { // report paths relative to the source, not the runtime's scratch dir
		if r, err := filepath.Rel(root, docs[i].File); err == nil && !strings.HasPrefix(r, "..") {
			docs[i].File = filepath.ToSlash(r)
		}
	}
	// The secret's plaintext stays in this process: client-go reads it from memory.
	data, err := in.kubeconfig.Plaintext(ctx)
	if err != nil {
		return nil, nil, &model.ToolError{Tool: deploy.Tool().Name, Err: fmt.Errorf("read the kubeconfig secret: %w", err)}
	}
	cluster, err := deploy.Resolve(deploy.Target{Data: []byte(data), Context: cfg.Deploy.Context, Namespace: cfg.Deploy.Namespace})
	if err != nil {
		return nil, nil, err
	}
	d := &deploy.Deployer{Cluster: cluster, Options: opts, WouldFail: deploy.GateCheck(cfg, now()),
		Verifier: imageVerifier{m: m, cfg: cfg, in: in.trust}}
	res, rec, err := d.Deploy(ctx, docs)
	if err != nil {
		return nil, nil, err
	}
	var record []byte
	if rec != nil {
		if record, err = json.MarshalIndent(rec, "", "  "); err != nil {
			return nil, nil, &model.ToolError{Tool: deploy.Tool().Name, Err: fmt.Errorf("encode %s: %w", deploy.RecordName, err)}
		}
		record = append(record, '\n')
	}
	return res, record, nil
}
