package deploy

import "github.com/tollgate-dev/tollgate/internal/model"

// Rule IDs of the deploy stage's own findings. Image verification findings keep the rule IDs of
// the verifier that produced them.
const (
	// RuleRejected: the API server (schema, admission chain, quotas, conflicts) refused an object.
	RuleRejected = "TG-DEPLOY-001"
	// RuleVerifyDisabled: deploy.verify is false, so images were deployed unverified.
	RuleVerifyDisabled = "TG-DEPLOY-002"
	// RuleRolloutTimeout: a workload did not finish rolling out within deploy.timeout.
	RuleRolloutTimeout = "TG-DEPLOY-003"
	// RuleRolloutFailed: a workload reported that its rollout failed (Job failed, progress deadline).
	RuleRolloutFailed = "TG-DEPLOY-004"
	// RuleNotJudged: a dry-run could not judge an object whose namespace or CRD this deploy creates.
	RuleNotJudged = "TG-DEPLOY-005"
	// RuleServerWarning: the API server answered with a warning (deprecated API, ignored field).
	RuleServerWarning = "TG-DEPLOY-006"
	// RulePruned: an object of the ApplySet that the manifests no longer hold was (or would be) deleted.
	RulePruned = "TG-DEPLOY-007"
	// RuleUnverified is used for a refused image when the verifier returns an error-free refusal
	// without a rule of its own.
	RuleUnverified = "TG-DEPLOY-008"
)

// rules is the metadata of the deploy stage's findings, for SARIF and docs.
var rules = [...]model.Rule{
	{ID: RuleRejected, Name: "rejected-by-api-server", Severity: model.SeverityCritical,
		Summary: "The API server or its admission chain refused the object; applying it would fail.",
		Fix:     "Fix the object as the server's message says, or the policy that denies it."},
	{ID: RuleVerifyDisabled, Name: "image-verification-disabled", Severity: model.SeverityMedium,
		Summary: "deploy.verify is false: images are deployed without checking their signatures and attestations.",
		Fix:     "Set deploy.verify: true (the default) and sign images in the pipeline."},
	{ID: RuleRolloutTimeout, Name: "rollout-timeout", Severity: model.SeverityHigh,
		Summary: "A workload did not become ready within deploy.timeout.",
		Fix:     "Read the conditions and events in the message; raise deploy.timeout only if the rollout is merely slow."},
	{ID: RuleRolloutFailed, Name: "rollout-failed", Severity: model.SeverityHigh,
		Summary: "A workload reported a failed rollout (Job failed, Deployment progress deadline exceeded).",
		Fix:     "Read the conditions and events in the message."},
	{ID: RuleNotJudged, Name: "not-judged-by-dry-run", Severity: model.SeverityLow,
		Summary: "A dry-run cannot judge an object whose namespace or CustomResourceDefinition is created by the same deploy.",
		Fix:     "Create the namespace or CRD first, or rely on the real deploy, which judges the object after creating them."},
	{ID: RuleServerWarning, Name: "api-server-warning", Severity: model.SeverityLow,
		Summary: "The API server accepted the object with a warning (deprecated API version, unknown or duplicate field).",
		Fix:     "Follow the warning: move to the current API version, remove the field."},
	{ID: RulePruned, Name: "pruned", Severity: model.SeverityInfo,
		Summary: "An object this ApplySet applied before is no longer in the manifests and is deleted.",
		Fix:     "Nothing to do if the removal is intended."},
	{ID: RuleUnverified, Name: "image-not-verified", Severity: model.SeverityCritical,
		Summary: "An image's signature or required attestations did not verify under the configured policy.",
		Fix:     "Sign and attest the image in the pipeline (sign stage) or fix the verification policy."},
}

// Rules returns the deploy stage's rule metadata.
func Rules() []model.Rule { return append([]model.Rule(nil), rules[:]...) }

func ruleSeverity(id string) model.Severity {
	for _, r := range rules {
		if r.ID == id {
			return r.Severity
		}
	}
	return model.SeverityUnknown
}
