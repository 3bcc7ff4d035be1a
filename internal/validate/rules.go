// Package validate is the Kubernetes manifest validation stage: kubeconform, run offline against
// schemas generated from the Kubernetes OpenAPI spec and from the CustomResourceDefinitions found
// among the inputs, strict by default. Findings name the file, the document and its line, and
// the resource (Kind/namespace/name).
package validate

import "github.com/tollgate-dev/tollgate/internal/model"

// Name is the stage name.
const Name = "validate"

const toolName = "kubeconform"

// Rule IDs of the validate stage.
const (
	RuleSchema       = "K8S-SCHEMA"           // the object violates its schema (wrong type, missing field, bad value)
	RuleUnknownField = "K8S-UNKNOWN-FIELD"    // strict mode: a field the schema does not declare
	RuleNoSchema     = "K8S-NO-SCHEMA"        // no schema for the kind: it was not validated
	RuleCollision    = "K8S-SCHEMA-COLLISION" // kubeconform would pick another group's schema
	RuleCRDSchema    = "K8S-CRD-SCHEMA"       // a CRD could not be turned into a schema
	RuleRemovedAPI   = "K8S-REMOVED-API"      // an API version the target Kubernetes no longer serves
)

const docsURL = "https://kubernetes.io/docs/reference/kubernetes-api/"

// Rules returns the stage's rules with their default severities. missing is the configured
// severity of K8S-NO-SCHEMA.
func Rules(missing model.Severity) []model.Rule {
	return []model.Rule{
		{ID: RuleSchema, Name: "schema violation", Severity: model.SeverityHigh,
			Summary: "The API server rejects an object that does not match its kind's schema.",
			Fix:     "Fix the field named in the message (type, allowed values, required fields).", URL: docsURL},
		{ID: RuleUnknownField, Name: "unknown field", Severity: model.SeverityHigh,
			Summary: "A field the schema does not declare is usually a typo (replica: for replicas:) that the API server drops or rejects.",
			Fix:     "Correct the field name or remove it; set validate.strict: false only if you must.", URL: docsURL},
		{ID: RuleNoSchema, Name: "no schema", Severity: missing,
			Summary: "A resource without a schema is not validated at all.",
			Fix:     "Add its CustomResourceDefinition to the inputs or to validate.crds, or a schema location to validate.schema-locations; check apiVersion and kind for typos or removed API versions."},
		{ID: RuleRemovedAPI, Name: "removed API version", Severity: model.SeverityHigh,
			Summary: "The target Kubernetes version no longer serves this API version: the API server rejects the object.",
			Fix:     "Move the object to the API version named in the message (see the Kubernetes deprecated API migration guide).",
			URL:     "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"},
		{ID: RuleCollision, Name: "schema name collision", Severity: model.SeverityHigh,
			Summary: "kubeconform names schema files by the first label of the API group only, so this kind would be checked against another group's schema.",
			Fix:     "Add the resource's CustomResourceDefinition to the inputs or to validate.crds (Tollgate keys CRD schemas by full group)."},
		{ID: RuleCRDSchema, Name: "CRD schema not usable", Severity: model.SeverityHigh,
			Summary: "The CustomResourceDefinition's schema could not be converted, so its custom resources cannot be validated.",
			Fix:     "Check the CRD's openAPIV3Schema (spec.versions[].schema)."},
	}
}

func rule(id string, missing model.Severity) model.Rule {
	for _, r := range Rules(missing) {
		if r.ID == id {
			return r
		}
	}
	return model.Rule{ID: id, Severity: model.SeverityHigh}
}
