package lib.tollgate

# Shared by every template of Tollgate's library (each template carries a copy in its libs; a test
# keeps the copies equal to this file).

# pod_spec is the pod spec of any pod-bearing kind; undefined for other kinds.
pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.template.spec if obj.kind == "PodTemplate"

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

pod_spec(obj) := obj.spec.template.spec if template_kinds[obj.kind]

template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

# containers are every container of a pod spec, each with the list it is in.
containers(spec) := [{"field": field, "container": c} |
	some field in ["initContainers", "containers", "ephemeralContainers"]
	some c in object.get(spec, field, [])
]

# app_containers leave out ephemeral containers (debug sessions, added after admission).
app_containers(spec) := [c | some c in containers(spec); c.field != "ephemeralContainers"]

# describe names a container as the API does: container, init container, ephemeral container.
describe(c) := sprintf("container %q", [c.container.name]) if c.field == "containers"

describe(c) := sprintf("init container %q", [c.container.name]) if c.field == "initContainers"

describe(c) := sprintf("ephemeral container %q", [c.container.name]) if c.field == "ephemeralContainers"

# security_value is a securityContext field in force for a container: its own, else the pod's;
# null when neither sets it.
security_value(spec, c, field) := v if {
	v := object.get(c.container, ["securityContext", field], null)
	v != null
} else := object.get(spec, ["securityContext", field], null)

# container_fix is a pod-spec fragment that sets a securityContext on one container.
container_fix(c, sc) := {c.field: [{"name": c.container.name, "securityContext": sc}]}

# namespace is where the object under review lives ("" for a cluster-scoped one).
namespace := ns if {
	ns := input.review.object.metadata.namespace
	ns != ""
} else := ns if {
	ns := input.review.namespace
	ns != ""
} else := ""
