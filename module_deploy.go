package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/dagger"
	"github.com/tollgate-dev/tollgate/internal/stage"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/deploy"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
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
) (*StageReport, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	deployArgs(cfg, kubeContext, namespace, dryRun, prune, imageRef, verify, timeout)
	res, err := m.deploy(ctx, cfg, kubeconfig, paths)
	if err != nil {
		res = model.ErrorResult(deploy.Name, deploy.Tool(), err)
	}
	gate.Apply(res, cfg, now())
	return newStageReport(res)
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

// deploy loads the manifests with the shared loader in the module runtime and runs the shared
// deployer against the cluster the kubeconfig names.
func (m *Tollgate) deploy(ctx context.Context, cfg *config.Config, kubeconfig *dagger.Secret, paths []string) (*model.StageResult, error) {
	opts, err := deploy.OptionsFrom(cfg, "")
	if err != nil {
		return nil, err
	}
	defaulted := len(paths) == 0 && len(cfg.Deploy.Paths) == 0 && cfg.Validate.PathsDefaulted
	if len(paths) == 0 {
		paths = deploy.ConfigPaths(cfg)
	}
	if err := insideSource(paths); err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "tollgate-deploy-src-*")
	if err != nil {
		return nil, &model.ToolError{Tool: deploy.Tool().Name, Err: err}
	}
	defer os.RemoveAll(root)
	if err := m.exportSource(ctx, root); err != nil {
		return nil, &model.ToolError{Tool: deploy.Tool().Name, Err: err}
	}
	if r := (&stage.Env{Root: root}).SkipMissingDefaults(deploy.Name, deploy.Tool(), defaulted, paths, "set deploy.paths or validate.paths in tollgate.yaml"); r != nil {
		return r, nil
	}
	docs, err := manifest.Load(ctx, paths, root)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if len(docs) == 0 {
		return nil, &model.InputError{Err: fmt.Errorf("no Kubernetes manifests found in %s", strings.Join(paths, ", "))}
	}
	for i := range docs { // report paths relative to the source, not the runtime's temp dir
		if r, err := filepath.Rel(root, docs[i].File); err == nil && !strings.HasPrefix(r, "..") {
			docs[i].File = filepath.ToSlash(r)
		}
	}
	// The secret's plaintext stays in this process: client-go reads it from memory.
	data, err := kubeconfig.Plaintext(ctx)
	if err != nil {
		return nil, &model.ToolError{Tool: deploy.Tool().Name, Err: fmt.Errorf("read the kubeconfig secret: %w", err)}
	}
	cluster, err := deploy.Resolve(deploy.Target{Data: []byte(data), Context: cfg.Deploy.Context, Namespace: cfg.Deploy.Namespace})
	if err != nil {
		return nil, err
	}
	d := &deploy.Deployer{Cluster: cluster, Options: opts, WouldFail: deploy.GateCheck(cfg, now())}
	res, _, err := d.Deploy(ctx, docs)
	return res, err
}
