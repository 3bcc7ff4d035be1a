// Package cosign is Tollgate's library around the pinned cosign: the arguments and environment of
// every cosign invocation (shared by the native runner and the Dagger module), key handling,
// resolving images to digests, the attestation predicates Tollgate writes (SLSA provenance v1,
// cosign's vulnerability predicate) and the verification policy.
//
// It is not a stage: the sign, attest and verify stages are thin users of it, and the deploy
// stage gates on it through Verifier.VerifyImages without importing another stage.
//
// Secrets never become arguments. cosign reads the key password from COSIGN_PASSWORD, a key held
// in the environment through --key env://VAR, and registry credentials from
// COSIGN_REGISTRY_USERNAME / COSIGN_REGISTRY_PASSWORD (cosign binds COSIGN_<FLAG> variables to
// its flags inside its own process, so the values never appear in /proc/PID/cmdline).
package cosign

import (
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// ToolName is cosign's name in the pin table.
const ToolName = "cosign"

// Tool is cosign at its pinned version, as reported in results.
func Tool() model.Tool {
	return model.Tool{Name: ToolName, Version: tools.MustGet(ToolName).Version}
}

// Environment variables Tollgate reads, and the ones it hands to cosign.
const (
	// EnvKey holds a cosign private key (PEM) instead of a key file.
	EnvKey = "TOLLGATE_COSIGN_KEY"
	// EnvPassword holds the private key's password; COSIGN_PASSWORD is read too.
	EnvPassword = "TOLLGATE_COSIGN_PASSWORD"
	// EnvPublicKey holds the trusted public key (PEM) instead of a key file.
	EnvPublicKey = "TOLLGATE_COSIGN_PUBLIC_KEY"

	// CosignPassword is the variable cosign reads the key password from.
	CosignPassword = "COSIGN_PASSWORD"
	// KeyVar is the variable a key from the environment reaches cosign in (--key env://KeyVar).
	// Its name must not start with COSIGN_: cosign would bind it to a flag.
	KeyVar = "TOLLGATE_COSIGN_KEY"
	// RegistryUserVar and RegistryPasswordVar carry registry credentials; cosign binds them to
	// --registry-username / --registry-password inside its own process.
	RegistryUserVar     = "COSIGN_REGISTRY_USERNAME"
	RegistryPasswordVar = "COSIGN_REGISTRY_PASSWORD"
)

// ambientOIDC are the variables through which CI systems hand cosign an OIDC identity token for
// keyless signing: GitLab's id_tokens (SIGSTORE_ID_TOKEN) and GitHub Actions' token request
// endpoint. They are passed through to cosign's environment, never as --identity-token.
var ambientOIDC = [...]string{"SIGSTORE_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}

// AmbientOIDCVars lists the OIDC token variables passed through to cosign for keyless signing.
func AmbientOIDCVars() []string { return ambientOIDC[:] }
