package policy

const docIntro = "`tollgate policy` checks Kubernetes manifests two ways, in one stage:\n\n" +
	"1. **Gatekeeper constraints**, evaluated by the pinned gator (`gator test`, v3.23.1) exactly as Gatekeeper's\n" +
	"   admission webhook would: `match` (kinds, namespaces, excludedNamespaces, labelSelector, namespaceSelector\n" +
	"   against the Namespaces among the manifests), parameters and enforcement actions. The policies are\n" +
	"   Tollgate's library below (built into the binary; `policies/` in this repository), plus the templates and\n" +
	"   constraints under `policy.paths` and any among the manifests. Rego and Gatekeeper's CEL engine\n" +
	"   (K8sNativeValidation) both work.\n" +
	"2. **Pod Security Standards**, evaluated with the upstream checks (`k8s.io/pod-security-admission/policy`,\n" +
	"   the code a 1.25+ API server runs) at the level the Namespace among the manifests declares\n" +
	"   (`pod-security.kubernetes.io/enforce` and `enforce-version`), else `policy.pod-security.level`\n" +
	"   (default `restricted`, version `latest`).\n\n" +
	"A finding's rule is the constraint's `Kind/name` (or `PodSecurity/<check>`), its resource `Kind/namespace/name`\n" +
	"(documents without a namespace land in `policy.default-namespace`, `default`, as `kubectl apply` puts them),\n" +
	"with the file and line of the document, Gatekeeper's message and the YAML to add as the fix.\n" +
	"A `deny` violation counts against the gate (HIGH unless `policy.constraints.NAME.severity` says otherwise);\n" +
	"`warn` and `dryrun` violations are reported as suppressed, with the action as the reason, and never block.\n\n" +
	"```yaml\npolicy:\n  paths: [security/policies]          # your own ConstraintTemplates and Constraints\n" +
	"  disabled: [tg-probes]               # constraints (metadata.name) that do not run\n" +
	"  constraints:\n    tg-allowed-registries:\n      parameters: {registries: [ghcr.io/acme]}\n" +
	"    tg-image-digest:\n      enforcement-action: warn         # deny, warn or dryrun\n      parameters: {mode: tag}          # only forbid :latest\n" +
	"  pod-security: {level: restricted, version: latest}\n  fail-on: HIGH\n```\n\n" +
	"Each policy has a `gator verify` suite: `policies/suite.yaml` (allowed and disallowed examples) and\n" +
	"`policies/suite-kinds.yaml` (generated: the same examples as every pod-bearing kind). Run them with\n" +
	"`gator verify policies/`.\n\n## The default library\n\n"

const docPodSecurity = "\n## Pod Security Standards\n\n" +
	"Every Pod, PodTemplate, ReplicationController, ReplicaSet, Deployment, StatefulSet, DaemonSet, Job and\n" +
	"CronJob is evaluated; the message is the API server's (`pods \"x\" is forbidden: violates PodSecurity ...` for a\n" +
	"Pod, `would violate PodSecurity ...` for a workload, whose pods are the ones refused). A Namespace label with a\n" +
	"value the API server would reject is bad input (exit 2). Level `privileged` turns the checks off. The fixes\n" +
	"below are pod-spec fragments; a finding's fix puts them under the kind's own path (`spec.template.spec` for a\n" +
	"Deployment, `spec.jobTemplate.spec.template.spec` for a CronJob). There is\n" +
	"one finding per failing check:\n\n"

const docLimits = "\n## What gator can and cannot see\n\n" +
	"- **Referential policies** read `data.inventory`. gator puts every object it is given there, so the manifests\n" +
	"  themselves are the inventory: namespaced objects under `data.inventory.namespace[NS][GROUP/VERSION][KIND][NAME]`,\n" +
	"  cluster-scoped ones under `data.inventory.cluster[GROUP/VERSION][KIND][NAME]`. Objects that exist only in the\n" +
	"  cluster (not in the manifests) are invisible; in a cluster, Gatekeeper needs a Config or SyncSet syncing the\n" +
	"  kinds a referential policy reads (NetworkPolicy; RoleBinding, ClusterRoleBinding, ServiceAccount).\n" +
	"  The object under review is in the inventory too (as in a cluster's audit), so a uniqueness policy (one\n" +
	"  Ingress per host) must skip the object itself. Templates and constraints are in it as well.\n" +
	"- **namespaceSelector** is matched against the Namespaces among the manifests (the `default` namespace exists\n" +
	"  implicitly, without labels). An object in a namespace that is not among them cannot be matched; gator then\n" +
	"  rejects it (fail closed) and the finding says to add the Namespace.\n" +
	"- **Enforcement actions**: `deny`, `warn`, `dryrun`, and `scoped` with `scopedEnforcementActions`. gator only\n" +
	"  evaluates a scoped constraint for its own enforcement point (`gator.gatekeeper.sh`); Tollgate judges as\n" +
	"  admission does, so the actions for `validation.gatekeeper.sh` (or `*`) apply unless the constraint names\n" +
	"  `gator.gatekeeper.sh` itself. A constraint scoped to `audit.gatekeeper.sh` alone blocks no admission and\n" +
	"  reports nothing here.\n" +
	"- **Operation**: gator reviews objects as they are, without an admission operation (`input.review.operation` is\n" +
	"  empty) and without a user; policies about UPDATE or DELETE, or about who asks, do not apply.\n" +
	"- **Mutation** (Assign, ModifySet) is not applied: the manifests are judged as written.\n"
