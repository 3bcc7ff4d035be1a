package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// rolloutState is one reading of a workload's status.
type rolloutState struct {
	done   bool
	failed bool
	// detail says where the rollout stands (or why it failed), for a timeout or failure message.
	detail     string
	conditions []string
}

// rolloutKinds are the workloads whose rollout the deploy waits for.
var rolloutKinds = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}:  true,
	{Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "apps", Kind: "DaemonSet"}:   true,
	{Group: "batch", Kind: "Job"}:        true,
}

// readRollout reads a workload's status the way `kubectl rollout status` judges it; both runners
// and the tests use it. Kinds other than Deployment, StatefulSet, DaemonSet and Job are done.
func readRollout(u *unstructured.Unstructured) (rolloutState, error) {
	from := func(into any) error {
		return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
	}
	switch u.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
		var d appsv1.Deployment
		if err := from(&d); err != nil {
			return rolloutState{}, err
		}
		return deploymentState(&d), nil
	case schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
		var s appsv1.StatefulSet
		if err := from(&s); err != nil {
			return rolloutState{}, err
		}
		return statefulSetState(&s), nil
	case schema.GroupKind{Group: "apps", Kind: "DaemonSet"}:
		var s appsv1.DaemonSet
		if err := from(&s); err != nil {
			return rolloutState{}, err
		}
		return daemonSetState(&s), nil
	case schema.GroupKind{Group: "batch", Kind: "Job"}:
		var j batchv1.Job
		if err := from(&j); err != nil {
			return rolloutState{}, err
		}
		return jobState(&j), nil
	}
	return rolloutState{done: true}, nil
}

func deploymentState(d *appsv1.Deployment) rolloutState {
	var st rolloutState
	for _, c := range d.Status.Conditions {
		st.conditions = append(st.conditions, condition(string(c.Type), string(c.Status), c.Reason, c.Message))
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			st.failed = true
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		st.detail = fmt.Sprintf("the controller has not observed generation %d yet (observed %d)", d.Generation, s.ObservedGeneration)
	case s.UpdatedReplicas < want:
		st.detail = fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
	case s.Replicas > s.UpdatedReplicas:
		st.detail = fmt.Sprintf("%d old replica(s) pending termination", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < s.UpdatedReplicas:
		st.detail = fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas)
	default:
		st.done, st.failed = true, false
		st.detail = fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
	}
	if st.failed {
		st.detail = "progress deadline exceeded: " + st.detail
	}
	return st
}

func statefulSetState(s *appsv1.StatefulSet) rolloutState {
	var st rolloutState
	for _, c := range s.Status.Conditions {
		st.conditions = append(st.conditions, condition(string(c.Type), string(c.Status), c.Reason, c.Message))
	}
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return rolloutState{done: true, detail: "updateStrategy OnDelete: nothing to wait for"}
	}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	partition := int32(0)
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	ss := s.Status
	switch {
	case ss.ObservedGeneration < s.Generation:
		st.detail = fmt.Sprintf("the controller has not observed generation %d yet (observed %d)", s.Generation, ss.ObservedGeneration)
	case ss.ReadyReplicas < want:
		st.detail = fmt.Sprintf("%d of %d replicas ready", ss.ReadyReplicas, want)
	case partition > 0 && ss.UpdatedReplicas < want-partition:
		st.detail = fmt.Sprintf("%d of %d replicas above partition %d updated", ss.UpdatedReplicas, want-partition, partition)
	case partition == 0 && ss.UpdateRevision != ss.CurrentRevision:
		st.detail = fmt.Sprintf("%d of %d replicas on revision %s", ss.UpdatedReplicas, want, ss.UpdateRevision)
	default:
		st.done = true
		st.detail = fmt.Sprintf("%d of %d replicas ready", ss.ReadyReplicas, want)
	}
	return st
}

func daemonSetState(s *appsv1.DaemonSet) rolloutState {
	var st rolloutState
	for _, c := range s.Status.Conditions {
		st.conditions = append(st.conditions, condition(string(c.Type), string(c.Status), c.Reason, c.Message))
	}
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return rolloutState{done: true, detail: "updateStrategy OnDelete: nothing to wait for"}
	}
	ss := s.Status
	switch {
	case ss.ObservedGeneration < s.Generation:
		st.detail = fmt.Sprintf("the controller has not observed generation %d yet (observed %d)", s.Generation, ss.ObservedGeneration)
	case ss.UpdatedNumberScheduled < ss.DesiredNumberScheduled:
		st.detail = fmt.Sprintf("%d of %d pods updated", ss.UpdatedNumberScheduled, ss.DesiredNumberScheduled)
	case ss.NumberAvailable < ss.DesiredNumberScheduled:
		st.detail = fmt.Sprintf("%d of %d updated pods available", ss.NumberAvailable, ss.DesiredNumberScheduled)
	default:
		st.done = true
		st.detail = fmt.Sprintf("%d of %d pods available", ss.NumberAvailable, ss.DesiredNumberScheduled)
	}
	return st
}

func jobState(j *batchv1.Job) rolloutState {
	var st rolloutState
	for _, c := range j.Status.Conditions {
		st.conditions = append(st.conditions, condition(string(c.Type), string(c.Status), c.Reason, c.Message))
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			st.done = true
		case batchv1.JobFailed:
			st.failed = true
			st.detail = "job failed: " + strings.TrimSpace(c.Reason+" "+c.Message)
		}
	}
	if !st.done && !st.failed {
		want := int32(1)
		if j.Spec.Completions != nil {
			want = *j.Spec.Completions
		}
		st.detail = fmt.Sprintf("%d of %d completions, %d active, %d failed", j.Status.Succeeded, want, j.Status.Active, j.Status.Failed)
	}
	return st
}

func condition(typ, status, reason, msg string) string {
	s := typ + "=" + status
	if reason != "" || msg != "" {
		s += " (" + strings.TrimSpace(reason+": "+msg) + ")"
		s = strings.Replace(s, "(: ", "(", 1)
	}
	return s
}

// waitRollouts waits up to deploy.timeout for the applied workloads, polling their status.
// Timeouts and failures are findings naming the resource, where it stands, its conditions and
// its recent events.
func (d *Deployer) waitRollouts(ctx context.Context, objs []*object, res *model.StageResult) error {
	var wait []*object
	for _, o := range objs {
		if rolloutKinds[o.gvk.GroupKind()] && d.applied(o) {
			wait = append(wait, o)
		}
	}
	if len(wait) == 0 {
		return nil
	}
	d.progressf("waiting up to %s for %d rollout(s)", d.Options.Timeout, len(wait))
	deadline := time.Now().Add(d.Options.Timeout)
	states := map[*object]rolloutState{}
	for {
		var left []*object
		for _, o := range wait {
			r, err := d.resourceFor(o)
			if err != nil {
				return d.toolError("rollout of %s: %v", o.resource(), err)
			}
			cur, err := r.Get(ctx, o.obj.GetName(), metav1.GetOptions{})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return d.toolError("rollout of %s: %v", o.resource(), err)
			}
			st, err := readRollout(cur)
			if err != nil {
				return d.toolError("rollout of %s: read status: %v", o.resource(), err)
			}
			states[o] = st
			switch {
			case st.failed:
				d.rolloutFinding(ctx, o, RuleRolloutFailed, fmt.Sprintf("%s: rollout failed: %s", o.resource(), st.detail), st, res)
			case st.done:
				d.progressf("%s rolled out: %s", o.resource(), st.detail)
			default:
				left = append(left, o)
			}
		}
		wait = left
		if len(wait) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(d.Options.PollInterval, time.Until(deadline)+10*time.Millisecond)):
		}
	}
	for _, o := range wait {
		st := states[o]
		d.rolloutFinding(ctx, o, RuleRolloutTimeout,
			fmt.Sprintf("%s: rollout not finished after %s: %s", o.resource(), d.Options.Timeout, st.detail), st, res)
	}
	return nil
}

func (d *Deployer) applied(o *object) bool {
	switch d.action(o) {
	case "created", "configured", "unchanged":
		return true
	}
	return false
}

func (d *Deployer) rolloutFinding(ctx context.Context, o *object, rule, msg string, st rolloutState, res *model.StageResult) {
	if len(st.conditions) > 0 {
		msg += "; conditions: " + strings.Join(st.conditions, ", ")
	} else {
		msg += "; no conditions reported"
	}
	if ev := d.recentEvents(ctx, o, 5); len(ev) > 0 {
		msg += "; recent events: " + strings.Join(ev, " | ")
	} else {
		msg += "; no events"
	}
	d.progressf("%s", msg)
	res.Findings = append(res.Findings, model.Finding{Stage: Name, RuleID: rule, Severity: ruleSeverity(rule),
		Title: "rollout did not complete", Message: d.Cluster.redact.clean(msg),
		Location: model.Location{File: o.doc.File, Line: o.doc.Line, Resource: o.resource()}})
}

var eventsGVR = schema.GroupVersionResource{Version: "v1", Resource: "events"}

// recentEvents returns the last n events about the object, newest last ("Reason: message"). A
// failure to read events only loses detail; it is not an error of the deploy.
func (d *Deployer) recentEvents(ctx context.Context, o *object, n int) []string {
	sel := fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s", o.gvk.Kind, o.obj.GetName())
	list, err := d.dyn.Resource(eventsGVR).Namespace(o.obj.GetNamespace()).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil
	}
	type ev struct {
		at   time.Time
		text string
	}
	var evs []ev
	for _, item := range list.Items {
		var e corev1.Event
		if runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &e) != nil {
			continue
		}
		at := e.LastTimestamp.Time
		if at.IsZero() {
			at = e.EventTime.Time
		}
		if at.IsZero() {
			at = e.CreationTimestamp.Time
		}
		text := fmt.Sprintf("%s %s: %s", e.Type, e.Reason, strings.TrimSpace(e.Message))
		if e.Count > 1 {
			text += fmt.Sprintf(" (x%d)", e.Count)
		}
		evs = append(evs, ev{at, text})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.text
	}
	return out
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitEstablished waits until every applied CRD is Established, so its custom resources can be
// judged and applied. A CRD that does not get there in time is a finding; the deploy goes on and
// the server then rejects its custom resources, each a finding of its own.
func (d *Deployer) waitEstablished(ctx context.Context, crds []*object, res *model.StageResult) error {
	deadline := time.Now().Add(d.Options.Timeout)
	for _, o := range crds {
		if !d.applied(o) {
			continue
		}
		last := "no conditions reported"
		for {
			cur, err := d.dyn.Resource(crdGVR).Get(ctx, o.obj.GetName(), metav1.GetOptions{})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return d.toolError("wait for CRD %s: %v", o.obj.GetName(), err)
			}
			established := false
			conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
			var cs []string
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				typ, _ := cm["type"].(string)
				status, _ := cm["status"].(string)
				reason, _ := cm["reason"].(string)
				msg, _ := cm["message"].(string)
				cs = append(cs, condition(typ, status, reason, msg))
				if typ == "Established" && status == "True" {
					established = true
				}
			}
			if len(cs) > 0 {
				last = strings.Join(cs, ", ")
			}
			if established {
				d.progressf("%s established", o.resource())
				break
			}
			if !time.Now().Before(deadline) {
				res.Findings = append(res.Findings, model.Finding{Stage: Name, RuleID: RuleRolloutTimeout, Severity: ruleSeverity(RuleRolloutTimeout),
					Title:    "CRD not established",
					Message:  fmt.Sprintf("%s: not Established after %s; conditions: %s", o.resource(), d.Options.Timeout, last),
					Location: model.Location{File: o.doc.File, Line: o.doc.Line, Resource: o.resource()}})
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(d.Options.PollInterval, 200*time.Millisecond)):
			}
		}
	}
	return nil
}
