package cosign

import (
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

const docsURL = "https://github.com/tollgate-dev/tollgate/blob/main/docs/signing.md"

// Rule IDs of the findings the sign, attest and verify stages report.
const (
	// RuleTlogSkipped: signatures or attestations were not recorded in the transparency log.
	RuleTlogSkipped = "SIGN001"
	// RuleNotAttested: a configured attestation could not be written (its input is missing).
	RuleNotAttested = "ATTEST001"
	// RuleUnsigned: the image (or one of its platform manifests) carries no signature at all.
	RuleUnsigned = "VERIFY001"
	// RuleUntrusted: signatures exist, but none verifies against the trusted key or identity.
	RuleUntrusted = "VERIFY002"
	// RuleMissingAttestation: a required attestation is absent (or not signed by the trusted signer).
	RuleMissingAttestation = "VERIFY003"
	// RuleStaleAttestation: the newest required attestation is older than allowed, or undated.
	RuleStaleAttestation = "VERIFY004"
	// RuleBlockingVulns: the vulnerability attestation lists unsuppressed blocking findings.
	RuleBlockingVulns = "VERIFY005"
	// RuleTlogIgnored: verification did not demand transparency log entries.
	RuleTlogIgnored = "VERIFY006"
	// RuleImageMissing: the image to verify does not exist in its registry.
	RuleImageMissing = "VERIFY007"
)

// ruleTitles are the findings' one-line titles.
var ruleTitles = map[string]string{
	RuleTlogSkipped:        "Not recorded in the transparency log",
	RuleNotAttested:        "Attestation not written",
	RuleUnsigned:           "Image not signed",
	RuleUntrusted:          "No trusted signature",
	RuleMissingAttestation: "Required attestation missing",
	RuleStaleAttestation:   "Required attestation too old",
	RuleBlockingVulns:      "Attested scan has blocking vulnerabilities",
	RuleTlogIgnored:        "Transparency log not checked",
	RuleImageMissing:       "Image not found",
}

func rule(id, name string, sev model.Severity, summary, fix string) model.Rule {
	return model.Rule{ID: id, Name: name, Severity: sev, Summary: summary, Fix: fix, URL: docsURL + "#" + strings.ToLower(id)}
}

// Rules returns the metadata of every signing rule, for SARIF descriptors and docs.
func Rules() []model.Rule {
	return []model.Rule{
		rule(RuleTlogSkipped, "tlog-upload-skipped", model.SeverityLow,
			"The signature or attestation was not recorded in the Rekor transparency log, so nobody can audit when and by whom it was made.",
			"Leave sign.tlog-upload on (the default) unless the registry and key are private to an air-gapped site."),
		rule(RuleNotAttested, "attestation-not-written", model.SeverityLow,
			"An attestation listed in attest.predicates was not written because its input is missing.",
			"Run the sbom and scan stages in the same run, or name the files in attest.sbom / attest.vuln-report."),
		rule(RuleUnsigned, "image-unsigned", model.SeverityCritical,
			"The image carries no cosign signature: nothing proves it came out of the gated pipeline.",
			"Sign the image by digest after the gates pass (tollgate sign IMAGE), and deploy only that digest."),
		rule(RuleUntrusted, "signature-untrusted", model.SeverityCritical,
			"The image is signed, but no signature verifies against the trusted key or keyless identity.",
			"Check verify.key (or the certificate identity and issuer) matches the signer; re-sign with the right key."),
		rule(RuleMissingAttestation, "attestation-missing", model.SeverityCritical,
			"A required attestation is absent, or not signed by the trusted signer.",
			"Attest the image after signing (tollgate attest IMAGE, or run with signing configured)."),
		rule(RuleStaleAttestation, "attestation-too-old", model.SeverityCritical,
			"The newest required attestation is older than verify.require[].max-age (or carries no date).",
			"Re-run the pipeline (scan and attest) on the image to refresh the attestation."),
		rule(RuleBlockingVulns, "attested-blocking-vulnerabilities", model.SeverityCritical,
			"The signed vulnerability scan lists vulnerabilities at or above the policy threshold that the scan did not suppress.",
			"Fix the vulnerabilities, or record a reasoned, expiring suppression (VEX or ignore) and re-scan and re-attest."),
		rule(RuleTlogIgnored, "tlog-verification-skipped", model.SeverityLow,
			"Verification accepted signatures without transparency log entries.",
			"Leave verify.tlog on (the default) unless signatures are deliberately kept out of Rekor."),
		rule(RuleImageMissing, "image-not-found", model.SeverityCritical,
			"The image to verify does not exist in its registry.",
			"Check the reference; deploy only images that were pushed, signed and attested by the pipeline."),
	}
}
