package cosign

import (
	"github.com/spf13/pflag"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// SigningFlags registers the signing flags `tollgate sign` and `tollgate attest` share; only
// flags the user set override tollgate.yaml. Both stages write the same config fields, so in
// `tollgate run` (where a flag name is registered once) either stage's copy serves both.
func SigningFlags(fs *pflag.FlagSet) func(c *config.Config) {
	key := fs.String("key", "", "cosign private key file (or set "+EnvKey+" to the PEM); password from "+EnvPassword+" or COSIGN_PASSWORD")
	keyless := fs.Bool("keyless", false, "sign keylessly: Fulcio certificate for the CI's OIDC identity, recorded in Rekor (needs the network)")
	tlog := fs.Bool("tlog-upload", true, "record signatures and attestations in the Rekor transparency log (false is reported as a finding)")
	allowHTTP := HTTPFlag(fs)
	return func(c *config.Config) {
		if fs.Changed("key") {
			c.Sign.Key = *key
		}
		if fs.Changed("keyless") {
			c.Sign.Keyless = *keyless
		}
		if fs.Changed("tlog-upload") {
			v := *tlog
			c.Sign.TlogUpload = &v
		}
		allowHTTP(c)
	}
}

// HTTPFlag registers --allow-http-registry, which applies to signing and verification alike.
func HTTPFlag(fs *pflag.FlagSet) func(c *config.Config) {
	allow := fs.Bool("allow-http-registry", false, "allow plain HTTP to a loopback registry (127.0.0.1, ::1, localhost)")
	return func(c *config.Config) {
		if fs.Changed("allow-http-registry") {
			c.Sign.AllowHTTPRegistry = *allow
			c.Verify.AllowHTTPRegistry = *allow
		}
	}
}
