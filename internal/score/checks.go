package score

import (
	"slices"
	"sort"
)

// check describes one kube-score v1.20.0 check: what Tollgate shows for it and how to fix it.
// The list mirrors `kube-score list` for the pinned version; a check kube-score reports that is not
// here still becomes a finding (with kube-score's own name), it only lacks a fix hint.
type check struct {
	ID       string
	Name     string
	Optional bool   // off in kube-score unless enabled
	Control  string // the runtime-protection control it covers, if any
	Fix      string
	URL      string
}

const (
	docBase         = "https://github.com/zegl/kube-score/blob/v1.20.0/"
	securityDocURL  = docBase + "README_SECURITYCONTEXT.md"
	probesDocURL    = docBase + "README_PROBES.md"
	checksDocURL    = docBase + "README_CHECKS.md"
	controlSecurity = "security context"
)

var checkTable = [...]check{
	{ID: "container-security-context-user-group-id", Name: "Container Security Context User Group ID", Control: controlSecurity,
		Fix: "Run as a non-root user: set securityContext.runAsNonRoot: true, runAsUser and runAsGroup above 10000 (pod or container level).", URL: securityDocURL},
	{ID: "container-security-context-privileged", Name: "Container Security Context Privileged", Control: controlSecurity,
		Fix: "Set securityContext.privileged: false (and allowPrivilegeEscalation: false) on every container.", URL: securityDocURL},
	{ID: "container-security-context-readonlyrootfilesystem", Name: "Container Security Context ReadOnlyRootFilesystem", Control: controlSecurity,
		Fix: "Set securityContext.readOnlyRootFilesystem: true on every container; mount an emptyDir where the app must write.", URL: securityDocURL},
	{ID: "container-seccomp-profile", Name: "Container Seccomp Profile", Optional: true, Control: controlSecurity,
		Fix: "Set spec.securityContext.seccompProfile.type: RuntimeDefault in the pod template.", URL: securityDocURL},
	{ID: "container-resources", Name: "Container Resources", Control: "resources",
		Fix: "Set resources.requests and resources.limits for cpu and memory on every container."},
	{ID: "container-ephemeral-storage-request-and-limit", Name: "Container Ephemeral Storage Request and Limit", Control: "resources",
		Fix: "Set resources.requests and resources.limits for ephemeral-storage on every container."},
	{ID: "container-resource-requests-equal-limits", Name: "Container Resource Requests Equal Limits", Optional: true, Control: "resources",
		Fix: "Make resources.requests equal resources.limits for cpu and memory."},
	{ID: "container-cpu-requests-equal-limits", Name: "Container CPU Requests Equal Limits", Optional: true, Control: "resources",
		Fix: "Make resources.requests.cpu equal resources.limits.cpu."},
	{ID: "container-memory-requests-equal-limits", Name: "Container Memory Requests Equal Limits", Optional: true, Control: "resources",
		Fix: "Make resources.requests.memory equal resources.limits.memory."},
	{ID: "container-ephemeral-storage-request-equals-limit", Name: "Container Ephemeral Storage Request Equals Limit", Optional: true, Control: "resources",
		Fix: "Make resources.requests.ephemeral-storage equal resources.limits.ephemeral-storage."},
	{ID: "pod-probes", Name: "Pod Probes", Control: "probes",
		Fix: "Add a readinessProbe (and a livenessProbe that checks something different) to containers behind a Service.", URL: probesDocURL},
	{ID: "pod-probes-identical", Name: "Pod Probes Identical", Control: "probes",
		Fix: "Give the readinessProbe and livenessProbe different checks (e.g. /ready and /healthz).", URL: probesDocURL},
	{ID: "pod-networkpolicy", Name: "Pod NetworkPolicy", Control: "network policy",
		Fix: "Add a NetworkPolicy in the same namespace whose podSelector matches the pod's labels."},
	{ID: "networkpolicy-targets-pod", Name: "NetworkPolicy targets Pod", Control: "network policy",
		Fix: "Make the NetworkPolicy's podSelector match the labels of a workload in its namespace."},
	{ID: "container-image-tag", Name: "Container Image Tag", Control: "image",
		Fix: "Use an explicit, immutable image tag or digest instead of :latest or no tag."},
	{ID: "container-image-pull-policy", Name: "Container Image Pull Policy", Control: "image",
		Fix: "Set imagePullPolicy: Always so registry credentials are checked on every pull."},
	{ID: "container-ports-check", Name: "Container Ports Check", Optional: true,
		Fix: "Give each containerPort a unique name of at most 15 characters."},
	{ID: "environment-variable-key-duplication", Name: "Environment Variable Key Duplication",
		Fix: "Remove the duplicated env entry; only the last one takes effect."},
	{ID: "deployment-strategy", Name: "Deployment Strategy", Fix: "Use strategy.type: RollingUpdate for Deployments behind a Service."},
	{ID: "deployment-replicas", Name: "Deployment Replicas", Fix: "Run at least 2 replicas of a Deployment behind a Service."},
	{ID: "deployment-has-poddisruptionbudget", Name: "Deployment has PodDisruptionBudget", Fix: "Add a PodDisruptionBudget that selects the Deployment's pods."},
	{ID: "statefulset-has-poddisruptionbudget", Name: "StatefulSet has PodDisruptionBudget", Fix: "Add a PodDisruptionBudget that selects the StatefulSet's pods."},
	{ID: "poddisruptionbudget-has-policy", Name: "PodDisruptionBudget has policy", Fix: "Set minAvailable or maxUnavailable on the PodDisruptionBudget."},
	{ID: "deployment-has-host-podantiaffinity", Name: "Deployment has host PodAntiAffinity",
		Fix: "Add a podAntiAffinity on kubernetes.io/hostname so replicas land on different nodes."},
	{ID: "statefulset-has-host-podantiaffinity", Name: "StatefulSet has host PodAntiAffinity",
		Fix: "Add a podAntiAffinity on kubernetes.io/hostname so replicas land on different nodes."},
	{ID: "deployment-targeted-by-hpa-does-not-have-replicas-configured", Name: "Deployment targeted by HPA does not have replicas configured",
		Fix: "Remove spec.replicas from a Deployment that a HorizontalPodAutoscaler scales."},
	{ID: "statefulset-has-servicename", Name: "StatefulSet has ServiceName", Fix: "Point serviceName at an existing headless Service selecting the pods."},
	{ID: "deployment-pod-selector-labels-match-template-metadata-labels", Name: "Deployment Pod Selector labels match template metadata labels",
		Fix: "Make spec.selector match spec.template.metadata.labels."},
	{ID: "statefulset-pod-selector-labels-match-template-metadata-labels", Name: "StatefulSet Pod Selector labels match template metadata labels",
		Fix: "Make spec.selector match spec.template.metadata.labels."},
	{ID: "ingress-targets-service", Name: "Ingress targets Service", Fix: "Point the Ingress backend at an existing Service and port."},
	{ID: "cronjob-has-deadline", Name: "CronJob has deadline", Fix: "Set spec.startingDeadlineSeconds on the CronJob."},
	{ID: "cronjob-restartpolicy", Name: "CronJob RestartPolicy", Fix: "Set the job template's restartPolicy to OnFailure or Never."},
	{ID: "service-targets-pod", Name: "Service Targets Pod", Fix: "Make the Service selector match the labels of a workload in its namespace."},
	{ID: "service-type", Name: "Service Type", Fix: "Use a ClusterIP Service (behind an Ingress or LoadBalancer) instead of NodePort."},
	{ID: "stable-version", Name: "Stable version", Fix: "Move the object to the stable apiVersion named in the message."},
	{ID: "label-values", Name: "Label values", Fix: "Use label values of at most 63 characters: alphanumerics, '-', '_' or '.'."},
	{ID: "horizontalpodautoscaler-has-target", Name: "HorizontalPodAutoscaler has target", Fix: "Point scaleTargetRef at an existing workload."},
	{ID: "horizontalpodautoscaler-replicas", Name: "HorizontalPodAutoscaler Replicas", Fix: "Set minReplicas to at least 2."},
	{ID: "pod-topology-spread-constraints", Name: "Pod Topology Spread Constraints",
		Fix: "Give each topologySpreadConstraint a labelSelector, a topologyKey, maxSkew > 0 and a valid whenUnsatisfiable."},
}

// DefaultOptionalChecks are the optional kube-score checks Tollgate turns on because they cover
// runtime protection (kube-score leaves them off by default).
var defaultOptionalChecks = []string{"container-seccomp-profile"}

// DefaultOptionalChecks returns the optional checks Tollgate enables by default.
func DefaultOptionalChecks() []string { return slices.Clone(defaultOptionalChecks) }

func lookupCheck(id string) (check, bool) {
	for _, c := range checkTable {
		if c.ID == id {
			return c, true
		}
	}
	return check{}, false
}

// KnownChecks returns the IDs of every kube-score v1.20.0 check, sorted.
func KnownChecks() []string {
	ids := make([]string, 0, len(checkTable))
	for _, c := range checkTable {
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	return ids
}
