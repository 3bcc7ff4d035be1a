package policy

import (
	"fmt"
	"maps"
)

// PodKinds are the pod-bearing kinds (apiVersion, kind) the library covers and Pod Security
// admission evaluates, in a stable order.
var PodKinds = [][2]string{
	{"v1", "Pod"}, {"v1", "PodTemplate"}, {"v1", "ReplicationController"},
	{"apps/v1", "Deployment"}, {"apps/v1", "StatefulSet"}, {"apps/v1", "DaemonSet"}, {"apps/v1", "ReplicaSet"},
	{"batch/v1", "Job"}, {"batch/v1", "CronJob"},
}

// AsKind rewraps a Deployment's pod template as another pod-bearing kind, keeping the object's
// metadata: the same pod under Pod, PodTemplate, ReplicationController, StatefulSet, DaemonSet,
// ReplicaSet, Job or CronJob. The library's per-kind test suites and the benchmark's generated
// manifests are made with it. Job and CronJob pods get restartPolicy Never, as the API requires.
func AsKind(deployment map[string]any, apiVersion, kind string) (map[string]any, error) {
	if deployment["kind"] != "Deployment" {
		return nil, fmt.Errorf("AsKind wants a Deployment, got %v", deployment["kind"])
	}
	d := deepCopy(deployment).(map[string]any)
	md, _ := d["metadata"].(map[string]any)
	spec, _ := d["spec"].(map[string]any)
	tpl, _ := spec["template"].(map[string]any)
	if tpl == nil {
		return nil, fmt.Errorf("the Deployment has no spec.template")
	}
	selector, _ := spec["selector"].(map[string]any)
	out := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md}
	switch kind {
	case "Deployment":
		return d, nil
	case "Pod":
		out["spec"] = tpl["spec"]
	case "PodTemplate":
		out["template"] = tpl
	case "ReplicationController":
		labels, _ := nested(tpl, "metadata", "labels").(map[string]any)
		out["spec"] = map[string]any{"replicas": spec["replicas"], "selector": maps.Clone(labels), "template": tpl}
	case "ReplicaSet", "DaemonSet":
		out["spec"] = map[string]any{"selector": selector, "template": tpl}
	case "StatefulSet":
		out["spec"] = map[string]any{"serviceName": md["name"], "selector": selector, "template": tpl}
	case "Job":
		setRestartNever(tpl)
		out["spec"] = map[string]any{"template": tpl}
	case "CronJob":
		setRestartNever(tpl)
		out["spec"] = map[string]any{"schedule": "0 3 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": tpl}}}
	default:
		return nil, fmt.Errorf("%s is not a pod-bearing kind", kind)
	}
	if out["spec"] != nil {
		if s, ok := out["spec"].(map[string]any); ok {
			for k, v := range s {
				if v == nil {
					delete(s, k)
				}
			}
		}
	}
	return out, nil
}

func setRestartNever(tpl map[string]any) {
	if s, ok := tpl["spec"].(map[string]any); ok {
		if _, set := s["restartPolicy"]; !set {
			s["restartPolicy"] = "Never"
		}
	}
}
