// Package deploy is the deploy stage: it applies Kubernetes manifests to an API server with
// client-go server-side apply (field manager "tollgate"), after the server and its admission
// chain judged every object in a server-side dry-run, and only with images that verified.
//
// Order of work: load and prepare the objects (images pinned to the pushed digest, ApplySet
// labels when pruning), verify the images, reach the server, dry-run everything, then — unless
// deploy.dry-run — apply Namespaces, the ApplySet parent and CRDs (waiting until they are
// Established), judge what depended on them, apply the rest in a fixed order, prune, and wait
// for Deployments, StatefulSets, DaemonSets and Jobs to roll out. Each step that finds a
// problem the gate would fail on stops the deploy before anything (more) is changed.
//
// Kubeconfig contents never leave the process: no child process runs (credential plugins are
// refused), nothing is logged, and every message passes a redactor holding the kubeconfig's
// secrets.
package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Name is the stage name.
const Name = "deploy"

// FieldManager is the server-side apply field manager of every object Tollgate applies.
const FieldManager = "tollgate"

// Tool is the deploy stage's tool as reported in results: Tollgate's own client-go code.
func Tool() model.Tool { return model.Tool{Name: "tollgate-deploy", Version: model.Version} }

// ImageVerifier checks the images about to be deployed against the configured signature and
// attestation policy. It returns one finding per failed requirement per image; an error means
// the check itself could not run (registry or key unreachable): the stage then fails closed.
type ImageVerifier interface {
	VerifyImages(ctx context.Context, refs []string) ([]model.Finding, error)
}

// Options say how to deploy.
type Options struct {
	// DryRun only asks the server to judge the objects; nothing is persisted.
	DryRun bool
	// Verify checks images with the Verifier before anything reaches the server.
	Verify bool
	// Pin rewrites references to the pushed repository to its digest (nil: no pinning).
	Pin *Pinning
	// Timeout bounds the rollout wait and the wait for CRDs (default 5 minutes).
	Timeout time.Duration
	// RequestTimeout bounds each API request, including the first contact (default 30s).
	RequestTimeout time.Duration
	// Prune deletes objects of the ApplySet that the manifests no longer hold.
	Prune bool
	// ApplySet is the ApplySet parent ConfigMap's name (default "tollgate").
	ApplySet string
	// PollInterval is how often rollout and CRD status is read (default 1s).
	PollInterval time.Duration
}

// Deployer deploys documents to one cluster.
type Deployer struct {
	Cluster *Cluster
	Options Options
	// Verifier checks images when Options.Verify is set; nil then fails the stage closed.
	Verifier ImageVerifier
	// WouldFail reports whether the findings so far fail the gate; the deploy stops before
	// changing anything further when they do. Nil: any active finding at HIGH or above fails.
	WouldFail func(*model.StageResult) bool
	// Progress receives one line per step; nil discards them.
	Progress func(msg string)

	dyn      dynamic.Interface
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	warnings *warningCollector
	record   *Record
}

// Record is what a deploy did, written as the deploy.json artifact.
type Record struct {
	Server        string         `json:"server"`
	ServerVersion string         `json:"server_version,omitempty"`
	DryRun        bool           `json:"dry_run"`
	Objects       []RecordObject `json:"objects"`
	Pinned        []string       `json:"pinned,omitempty"`
	Pruned        []string       `json:"pruned,omitempty"`
	ApplySet      string         `json:"applyset,omitempty"`
}

// RecordObject is one object and what happened to it.
type RecordObject struct {
	Resource string `json:"resource"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	// Action: created, configured, unchanged (applied), judged (dry-run passed), rejected,
	// not-judged, not-applied (the deploy stopped before it).
	Action string `json:"action"`
}

func (d *Deployer) progressf(format string, args ...any) {
	if d.Progress != nil {
		d.Progress(d.Cluster.redact.clean(fmt.Sprintf(format, args...)))
	}
}

func (d *Deployer) defaults() {
	if d.Options.Timeout <= 0 {
		d.Options.Timeout = 5 * time.Minute
	}
	if d.Options.RequestTimeout <= 0 {
		d.Options.RequestTimeout = 30 * time.Second
	}
	if d.Options.ApplySet == "" {
		d.Options.ApplySet = "tollgate"
	}
	if d.Options.PollInterval <= 0 {
		d.Options.PollInterval = time.Second
	}
	if d.WouldFail == nil {
		d.WouldFail = func(r *model.StageResult) bool {
			for _, f := range r.Findings {
				if f.Suppression == nil && f.Severity >= model.SeverityHigh {
					return true
				}
			}
			return false
		}
	}
}

// Deploy verifies, judges and applies the documents. Findings (rejections, refused images,
// rollout timeouts) are in the result; bad input is a *model.InputError; an unreachable server,
// refused credentials or a failed verifier is a *model.ToolError.
func (d *Deployer) Deploy(ctx context.Context, docs []manifest.Document) (*model.StageResult, *Record, error) {
	d.defaults()
	d.record = &Record{Server: d.Cluster.Host, DryRun: d.Options.DryRun}
	res := &model.StageResult{Stage: Name, Tool: Tool(), Findings: []model.Finding{}, Rules: Rules()}
	objs, err := d.prepare(docs)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range objs {
		o.rec = len(d.record.Objects)
		o.action = "not-applied"
		d.record.Objects = append(d.record.Objects, RecordObject{Resource: o.resource(), File: o.doc.File, Line: o.doc.Line, Action: o.action})
	}

	if err := d.verify(ctx, objs, res); err != nil {
		return nil, nil, err
	}
	if d.WouldFail(res) {
		d.progressf("image verification refused the deploy; nothing was sent to %s", d.Cluster.Host)
		return res, d.record, nil
	}

	if err := d.connect(ctx); err != nil {
		return nil, nil, err
	}
	var set *applySet
	if d.Options.Prune {
		if set, err = d.loadApplySet(ctx); err != nil {
			return nil, nil, err
		}
	}

	// 1. Judge every object the server can judge now.
	d.progressf("server-side dry-run of %d object(s) on %s", len(objs), d.Cluster.Host)
	pending, err := d.judge(ctx, objs, objs, res)
	if err != nil {
		return nil, nil, err
	}
	if d.Options.DryRun {
		for _, o := range pending {
			d.notJudged(o, res)
		}
		if set != nil {
			if err := d.prune(ctx, set, objs, res); err != nil {
				return nil, nil, err
			}
		}
		return res, d.record, nil
	}
	if d.WouldFail(res) {
		d.progressf("the dry-run found problems; nothing was applied")
		return res, d.record, nil
	}

	// 2. Apply what the rest depends on, then judge what could not be judged before it existed.
	var rest []*object
	var crds []*object
	for _, o := range objs {
		switch {
		case o.gvk.Kind == "Namespace" && o.gvk.Group == "":
			if d.action(o) == "rejected" {
				continue
			}
			if err := d.applyOne(ctx, o, res); err != nil {
				return nil, nil, err
			}
		case isFoundation(o):
			crds = append(crds, o)
		default:
			rest = append(rest, o)
		}
	}
	if set != nil {
		if err := d.updateParent(ctx, set, objs, true); err != nil {
			return nil, nil, err
		}
	}
	for _, o := range crds {
		if d.action(o) == "rejected" {
			continue
		}
		if err := d.applyOne(ctx, o, res); err != nil {
			return nil, nil, err
		}
	}
	if len(crds) > 0 {
		if err := d.waitEstablished(ctx, crds, res); err != nil {
			return nil, nil, err
		}
		d.mapper.Reset()
	}
	if len(pending) > 0 {
		d.progressf("server-side dry-run of %d object(s) that needed a new namespace or CRD", len(pending))
		still, err := d.judge(ctx, pending, objs, res)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range still {
			d.notJudged(o, res)
		}
		if d.WouldFail(res) {
			d.progressf("the dry-run found problems; only namespaces and CRDs were applied")
			return res, d.record, nil
		}
	}

	// 3. Apply the rest, prune, wait for rollouts.
	d.progressf("applying %d object(s) (server-side apply, field manager %s)", len(rest), FieldManager)
	for _, o := range rest {
		if d.action(o) == "rejected" {
			continue // judged and refused; its finding was ignored, but applying it would fail again
		}
		if err := d.applyOne(ctx, o, res); err != nil {
			return nil, nil, err
		}
	}
	failed := 0
	for _, o := range objs {
		if d.action(o) == "rejected" {
			failed++
		}
	}
	if set != nil {
		if failed > 0 {
			d.progressf("not pruning: %d object(s) were rejected", failed)
		} else {
			if err := d.prune(ctx, set, objs, res); err != nil {
				return nil, nil, err
			}
			if err := d.updateParent(ctx, set, objs, false); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := d.waitRollouts(ctx, rest, res); err != nil {
		return nil, nil, err
	}
	return res, d.record, nil
}

// prepare turns documents into objects in apply order: copied, images pinned, ApplySet labels set.
func (d *Deployer) prepare(docs []manifest.Document) ([]*object, error) {
	var objs []*object
	for i, doc := range docs {
		if doc.Object == nil {
			continue
		}
		u, err := toUnstructured(doc.Object)
		if err != nil {
			return nil, &model.InputError{File: doc.File, Line: doc.Line, Err: fmt.Errorf("%s: %w", doc.Resource(), err)}
		}
		if u.GetName() == "" {
			return nil, &model.InputError{File: doc.File, Line: doc.Line,
				Err: fmt.Errorf("%s has no metadata.name: server-side apply needs one (generateName is not supported)", doc.Kind)}
		}
		gv, err := schema.ParseGroupVersion(doc.APIVersion)
		if err != nil {
			return nil, &model.InputError{File: doc.File, Line: doc.Line, Err: fmt.Errorf("apiVersion %q: %w", doc.APIVersion, err)}
		}
		if changes := PinImages(u.Object, d.Options.Pin); len(changes) > 0 {
			d.record.Pinned = append(d.record.Pinned, changes...)
			d.progressf("%s: pinned %s", doc.Resource(), strings.Join(changes, ", "))
		}
		if d.Options.Prune {
			labels := u.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[labelPartOf] = parentID(d.Options.ApplySet, d.Cluster.Namespace)
			u.SetLabels(labels)
		}
		objs = append(objs, &object{doc: doc, obj: u, gvk: gv.WithKind(doc.Kind), pos: i})
	}
	sortObjects(objs)
	return objs, nil
}

// verify runs the image verification gate, or records loudly that it is off.
func (d *Deployer) verify(ctx context.Context, objs []*object, res *model.StageResult) error {
	refs := uniqueRefs(objs)
	if len(refs) == 0 {
		return nil
	}
	if !d.Options.Verify {
		res.Findings = append(res.Findings, model.Finding{Stage: Name, RuleID: RuleVerifyDisabled, Severity: ruleSeverity(RuleVerifyDisabled),
			Title:   "IMAGE VERIFICATION DISABLED",
			Message: fmt.Sprintf("deploy.verify is false: %d image(s) deployed without checking signatures or attestations: %s", len(refs), strings.Join(refs, ", ")),
			Fix:     rules[1].Fix})
		return nil
	}
	if d.Verifier == nil {
		return &model.ToolError{Tool: "verify", Err: errors.New("image verification is required (deploy.verify) but no verifier is configured in this build; " +
			"set deploy.verify: false to deploy unverified images, which the report then states as a finding")}
	}
	d.progressf("verifying %d image(s)", len(refs))
	found, err := d.Verifier.VerifyImages(ctx, refs)
	if err != nil {
		var ie *model.InputError
		if errors.As(err, &ie) { // bad key or policy: the user's input, exit 2
			return err
		}
		return &model.ToolError{Tool: "verify", Err: fmt.Errorf("verify images: %s", d.Cluster.redact.clean(err.Error()))}
	}
	where := imageLocations(objs)
	for _, f := range found {
		f.Stage = Name
		if f.RuleID == "" {
			f.RuleID = RuleUnverified
		}
		if f.Severity == model.SeverityUnknown {
			f.Severity = ruleSeverity(RuleUnverified)
		}
		if f.Location.File == "" {
			if loc, ok := where[f.Location.Resource]; ok {
				f.Location.File, f.Location.Line = loc.File, loc.Line
			}
		}
		res.Findings = append(res.Findings, f)
	}
	return nil
}

// imageLocations maps each image reference to the first document using it, so a verifier's
// finding about an image points at a file and line.
func imageLocations(objs []*object) map[string]model.Location {
	out := map[string]model.Location{}
	byPos := append([]*object(nil), objs...)
	sort.Slice(byPos, func(i, j int) bool { return byPos[i].pos < byPos[j].pos })
	for _, o := range byPos {
		for _, im := range Images(o.obj.Object) {
			if _, ok := out[im.Ref]; !ok {
				out[im.Ref] = model.Location{File: o.doc.File, Line: o.doc.Line, Resource: im.Ref}
			}
		}
	}
	return out
}

// connect builds the clients and makes first contact, so an unreachable server or refused
// credentials end the stage at once as an infrastructure error.
func (d *Deployer) connect(ctx context.Context) error {
	cfg := rest.CopyConfig(d.Cluster.Config)
	// First contact must answer within RequestTimeout; later requests get twice that, since
	// admission webhooks alone may take up to 30 seconds to judge an object.
	cfg.Timeout = 2 * d.Options.RequestTimeout
	cfg.UserAgent = "tollgate/" + model.Version
	cfg.QPS, cfg.Burst = 50, 100
	d.warnings = &warningCollector{}
	cfg.WarningHandler = d.warnings
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return d.toolError("client for %s: %v", d.Cluster.Host, err)
	}
	cctx, cancel := context.WithTimeout(ctx, d.Options.RequestTimeout)
	defer cancel()
	var v version.Info
	body, err := dc.RESTClient().Get().AbsPath("/version").Do(cctx).Raw()
	if err == nil {
		if jerr := json.Unmarshal(body, &v); jerr != nil {
			return d.toolError("the API server at %s answered /version with something else: %v", d.Cluster.Host, jerr)
		}
	}
	if err != nil {
		switch {
		case apierrors.IsUnauthorized(err):
			return d.toolError("the API server at %s refused the credentials of %s (expired or revoked?): %v", d.Cluster.Host, d.Cluster.Source, err)
		case ctx.Err() == nil && (cctx.Err() != nil || isTimeout(err)):
			return d.toolError("the API server at %s did not answer in time (limit %s): %v", d.Cluster.Host, d.Options.RequestTimeout, err)
		default:
			return d.toolError("cannot reach the API server at %s: %v", d.Cluster.Host, err)
		}
	}
	d.record.ServerVersion = v.GitVersion
	d.progressf("connected to %s (Kubernetes %s)", d.Cluster.Host, v.GitVersion)
	if d.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return d.toolError("client for %s: %v", d.Cluster.Host, err)
	}
	d.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (d *Deployer) toolError(format string, args ...any) error {
	return &model.ToolError{Tool: "kube-apiserver", Err: errors.New(d.Cluster.redact.clean(fmt.Sprintf(format, args...)))}
}

// resourceFor maps an object to its API resource and sets or clears its namespace by scope.
func (d *Deployer) resourceFor(o *object) (dynamic.ResourceInterface, error) {
	m, err := d.mapper.RESTMapping(o.gvk.GroupKind(), o.gvk.Version)
	if err != nil {
		return nil, err
	}
	ri := d.dyn.Resource(m.Resource)
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		o.obj.SetNamespace("")
		return ri, nil
	}
	if o.obj.GetNamespace() == "" {
		o.obj.SetNamespace(d.Cluster.Namespace)
	}
	return ri.Namespace(o.obj.GetNamespace()), nil
}

// send applies one object (dry or for real).
func (d *Deployer) send(ctx context.Context, o *object, dry bool) (*unstructured.Unstructured, error) {
	r, err := d.resourceFor(o)
	if err != nil {
		return nil, err
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager}
	if dry {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return r.Apply(ctx, o.obj.GetName(), o.obj, opts)
}

// judge dry-runs the objects and returns those the server cannot judge yet because their
// namespace or CRD is part of this deploy (all is the whole set). It also reads each live object,
// so an apply that would store nothing new can be skipped (see unchanged).
func (d *Deployer) judge(ctx context.Context, objs, all []*object, res *model.StageResult) ([]*object, error) {
	var pending []*object
	for _, o := range objs {
		d.warnings.take()
		live, err := d.live(ctx, o)
		var out *unstructured.Unstructured
		if err == nil {
			out, err = d.send(ctx, o, true)
		}
		d.addWarnings(o, res)
		switch {
		case err == nil:
			d.setAction(o, "judged")
			o.existed = live != nil
			o.unchanged = live != nil && unchanged(live, out)
		case d.dependsOnSet(o, all, err):
			pending = append(pending, o)
		case isRejection(err):
			d.reject(o, err, true, res)
		default:
			return nil, d.toolError("dry-run %s: %v", o.resource(), err)
		}
	}
	return pending, nil
}

// live reads the object as stored (nil when it does not exist). A GET the deploy identity may
// not make is no error: the apply then simply always runs.
func (d *Deployer) live(ctx context.Context, o *object) (*unstructured.Unstructured, error) {
	r, err := d.resourceFor(o)
	if err != nil {
		return nil, err
	}
	u, err := r.Get(ctx, o.obj.GetName(), metav1.GetOptions{})
	switch {
	case err == nil:
		return u, nil
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		return nil, nil
	}
	return nil, err
}

// unchanged reports whether applying would store nothing new: the dry-run's result equals the
// live object but for the bookkeeping the write itself would bump. Server-side apply still writes
// when the only difference is, say, an empty list that the stored form drops (NetworkPolicy
// egress: []), which would make every deploy bump the object's generation.
func unchanged(live, dry *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy()
		unstructured.RemoveNestedField(c.Object, "metadata", "resourceVersion")
		unstructured.RemoveNestedField(c.Object, "metadata", "generation")
		mf := c.GetManagedFields()
		for i := range mf {
			mf[i].Time = nil
		}
		c.SetManagedFields(mf)
		return c.Object
	}
	return equality.Semantic.DeepEqual(strip(live), strip(dry))
}

// applyOne applies an object for real and records what the server did with it.
func (d *Deployer) applyOne(ctx context.Context, o *object, res *model.StageResult) error {
	if o.unchanged {
		d.setAction(o, "unchanged")
		d.progressf("%s unchanged", o.resource())
		return nil
	}
	d.warnings.take()
	_, err := d.send(ctx, o, false)
	d.addWarnings(o, res)
	switch {
	case err == nil:
		if o.existed {
			d.setAction(o, "configured")
		} else {
			d.setAction(o, "created")
		}
		d.progressf("%s %s", o.resource(), d.action(o))
		return nil
	case isRejection(err):
		d.reject(o, err, false, res)
		return nil
	default:
		return d.toolError("apply %s: %v", o.resource(), err)
	}
}

// dependsOnSet reports whether a dry-run failed only because the object's namespace or its
// CustomResourceDefinition does not exist yet and is part of this deploy.
func (d *Deployer) dependsOnSet(o *object, all []*object, err error) bool {
	if meta.IsNoMatchError(err) {
		for _, c := range all {
			if c.gvk.Kind != "CustomResourceDefinition" || c.gvk.Group != "apiextensions.k8s.io" {
				continue
			}
			group, _, _ := unstructured.NestedString(c.obj.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(c.obj.Object, "spec", "names", "kind")
			if group == o.gvk.Group && kind == o.gvk.Kind {
				return true
			}
		}
		return false
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) || !apierrors.IsNotFound(err) {
		return false
	}
	det := se.Status().Details
	if det == nil || det.Kind != "namespaces" || det.Name != o.obj.GetNamespace() {
		return false
	}
	for _, n := range all {
		if n.gvk.Group == "" && n.gvk.Kind == "Namespace" && n.obj.GetName() == det.Name {
			return true
		}
	}
	return false
}

// isRejection tells the server's verdict on an object (bad request, denied by admission or
// RBAC, not found, conflict, invalid, unknown kind) from a failure to get one.
func isRejection(err error) bool {
	if meta.IsNoMatchError(err) {
		return true
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return false
	}
	switch se.Status().Code {
	case 400, 403, 404, 405, 409, 413, 415, 422:
		return true
	}
	return false
}

func (d *Deployer) reject(o *object, err error, dry bool, res *model.StageResult) {
	when := "apply"
	if dry {
		when = "dry-run"
	}
	msg := err.Error()
	if meta.IsNoMatchError(err) {
		msg = fmt.Sprintf("the server does not serve kind %s in %s (a CRD or API group that is not installed)", o.gvk.Kind, o.gvk.GroupVersion())
	}
	res.Findings = append(res.Findings, model.Finding{Stage: Name, RuleID: RuleRejected, Severity: ruleSeverity(RuleRejected),
		Title:    "rejected by the API server",
		Message:  d.Cluster.redact.clean(fmt.Sprintf("%s: the API server rejected %s: %s", when, o.resource(), msg)),
		Location: model.Location{File: o.doc.File, Line: o.doc.Line, Resource: o.resource()},
		Fix:      rules[0].Fix})
	d.setAction(o, "rejected")
	d.progressf("%s rejected (%s)", o.resource(), when)
}

func (d *Deployer) notJudged(o *object, res *model.StageResult) {
	res.Findings = append(res.Findings, model.Finding{Stage: Name, RuleID: RuleNotJudged, Severity: ruleSeverity(RuleNotJudged),
		Title: "not judged by the dry-run",
		Message: fmt.Sprintf("dry-run could not judge %s: its namespace or CustomResourceDefinition is created by this deploy and does not exist yet; "+
			"a real deploy judges it after creating them", o.resource()),
		Location: model.Location{File: o.doc.File, Line: o.doc.Line, Resource: o.resource()}, Fix: rules[4].Fix})
	d.setAction(o, "not-judged")
}

func (d *Deployer) addWarnings(o *object, res *model.StageResult) {
	for _, w := range d.warnings.take() {
		msg := d.Cluster.redact.clean(fmt.Sprintf("%s: API server warning: %s", o.resource(), w))
		dup := false
		for _, f := range res.Findings {
			if f.RuleID == RuleServerWarning && f.Message == msg {
				dup = true
			}
		}
		if !dup {
			res.Findings = append(res.Findings, model.Finding{Stage: Name, RuleID: RuleServerWarning, Severity: ruleSeverity(RuleServerWarning),
				Title: "API server warning", Message: msg,
				Location: model.Location{File: o.doc.File, Line: o.doc.Line, Resource: o.resource()}, Fix: rules[5].Fix})
		}
	}
}

func (d *Deployer) setAction(o *object, action string) {
	o.action = action
	r := &d.record.Objects[o.rec]
	r.Action, r.Resource = action, o.resource()
}

func (d *Deployer) action(o *object) string { return o.action }

// warningCollector keeps the API server's warnings for the request in flight (the deploy sends
// one request at a time), instead of client-go's default of printing them on stderr.
type warningCollector struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *warningCollector) HandleWarningHeader(code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// toUnstructured copies a loaded document through JSON, as the API server will read it: a copy,
// so pinning and labelling never change the loader's documents, with JSON's number types.
func toUnstructured(m map[string]any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return u, nil
}
