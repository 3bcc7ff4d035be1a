package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Environment variables with registry credentials for Tollgate. They reach the tools as the
// tools' own env variables, never as arguments. The usual docker config (DOCKER_CONFIG) is read
// by the tools themselves.
const (
	EnvRegistryUsername = "TOLLGATE_REGISTRY_USERNAME"
	EnvRegistryPassword = "TOLLGATE_REGISTRY_PASSWORD"
)

// Credentials for the image's registry; empty means the docker config or anonymous.
type Credentials struct {
	Username string
	Password string
}

// CredentialsFromEnv reads TOLLGATE_REGISTRY_USERNAME / TOLLGATE_REGISTRY_PASSWORD.
func CredentialsFromEnv() Credentials {
	return Credentials{Username: os.Getenv(EnvRegistryUsername), Password: os.Getenv(EnvRegistryPassword)}
}

// Set reports whether both a username and a password are given.
func (c Credentials) Set() bool { return c.Username != "" && c.Password != "" }

// Registry is the registry host of a registry source ("" otherwise).
func (s *Source) Registry() string {
	if s.Kind != KindRegistry {
		return ""
	}
	r, err := name.ParseReference(s.Ref)
	if err != nil {
		return ""
	}
	return r.Context().RegistryStr()
}

// TrivyEnv is the environment that hands c to trivy (nil when there is nothing to hand over).
func (s *Source) TrivyEnv(c Credentials) []string {
	if s.Kind != KindRegistry || !c.Set() {
		return nil
	}
	return []string{"TRIVY_USERNAME=" + c.Username, "TRIVY_PASSWORD=" + c.Password}
}

// SyftEnv is the environment that hands c to syft, scoped to the image's registry.
func (s *Source) SyftEnv(c Credentials) []string {
	if s.Kind != KindRegistry || !c.Set() {
		return nil
	}
	return []string{"SYFT_REGISTRY_AUTH_AUTHORITY=" + s.Registry(),
		"SYFT_REGISTRY_AUTH_USERNAME=" + c.Username, "SYFT_REGISTRY_AUTH_PASSWORD=" + c.Password}
}

// envKeychain offers the Tollgate credentials for the image's own registry only.
type envKeychain struct {
	registry string
	creds    Credentials
}

func (k envKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if !k.creds.Set() || r.RegistryStr() != k.registry {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: k.creds.Username, Password: k.creds.Password}), nil
}

// Keychain is how Tollgate authenticates to registry (host[:port]): TOLLGATE_REGISTRY_USERNAME
// and TOLLGATE_REGISTRY_PASSWORD when both are set (for that registry only, never sent to
// another), else the docker config (DOCKER_CONFIG, credential helpers), else anonymous.
func Keychain(registry string) authn.Keychain {
	return keychainFor(registry, CredentialsFromEnv())
}

// keychainFor is Keychain with explicit credentials (the Dagger module has them from a secret).
func keychainFor(registry string, creds Credentials) authn.Keychain {
	if creds.Set() {
		// Explicit credentials win over the docker config for the image's registry.
		return authn.NewMultiKeychain(envKeychain{registry: registry, creds: creds})
	}
	return authn.NewMultiKeychain(envKeychain{registry: registry, creds: creds}, authn.DefaultKeychain)
}

// credsHintEnv is how the native runner takes registry credentials.
const credsHintEnv = "set " + EnvRegistryUsername + "/" + EnvRegistryPassword + " or log in with docker login"

// ResolveRegistry resolves a registry reference to one image manifest and pins it by digest, as
// Open does for a reference, with explicit credentials (the Dagger module has them from a secret,
// not from the environment). credsHint tells the user how to pass credentials when the registry
// refuses access. The result is a KindRegistry source: Ref is repo@sha256:..., Digest the
// manifest digest.
func ResolveRegistry(ctx context.Context, ref string, creds Credentials, credsHint string) (*Source, error) {
	o := &opener{lim: DefaultLimits()}
	return o.resolveRegistry(ctx, ref, ref, creds, credsHint)
}

// openRegistry resolves a reference to one image manifest and pins it by digest, so the SBOM and
// the scan describe the same image even if the tag moves in between.
func (o *opener) openRegistry(ctx context.Context, input, ref string) (*Source, error) {
	return o.resolveRegistry(ctx, input, ref, CredentialsFromEnv(), credsHintEnv)
}

func (o *opener) resolveRegistry(ctx context.Context, input, ref string, creds Credentials, credsHint string) (_ *Source, err error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, &model.InputError{Err: fmt.Errorf("image %q is neither an existing file or directory nor a valid registry reference: %v", input, err)}
	}
	registryErr := func(input string, err error) error { return registryError(input, err, credsHint) }
	kc := keychainFor(r.Context().RegistryStr(), creds)
	if o.lim.RegistryTimeout > 0 {
		parent := ctx
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.lim.RegistryTimeout)
		defer cancel()
		defer func() {
			if err != nil && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err = &model.ToolError{Tool: "registry", Err: fmt.Errorf("%s is not a local file, and its registry did not answer within %s: %w",
					input, o.lim.RegistryTimeout, context.DeadlineExceeded)}
			}
		}()
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, registryErr(input, err)
	}
	src := &Source{Input: input, Kind: KindRegistry}
	chosen := desc.Descriptor
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, registryErr(input, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, registryErr(input, err)
		}
		var cands []candidate
		if err := collect(idx, im, "", 0, &cands); err != nil {
			return nil, &model.InputError{Err: fmt.Errorf("image %s: %v", input, err)}
		}
		c, note, err := choose(cands)
		if err != nil {
			return nil, &model.InputError{Err: fmt.Errorf("image %s: %v", input, err)}
		}
		chosen, src.Platform, src.Note = c.desc, c.platform, note
	} else if !desc.MediaType.IsImage() {
		return nil, &model.InputError{Err: fmt.Errorf("image %s: %s is not a container image manifest", input, desc.MediaType)}
	}
	pinned := r.Context().Digest(chosen.Digest.String())
	img, err := remote.Image(pinned, opts...)
	if err != nil {
		return nil, registryErr(input, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, registryErr(input, err)
	}
	if src.Platform == "" && cf.OS != "" {
		src.Platform = platformString(cf.OS, cf.Architecture, cf.Variant)
	}
	src.Ref = pinned.String()
	src.Digest = chosen.Digest.String()
	if _, isDigest := r.(name.Digest); !isDigest {
		src.Note = joinNote(fmt.Sprintf("resolved %s to %s", input, src.Digest), src.Note)
	}
	return src, nil
}

// OpenRegistry resolves a registry reference with the given credentials instead of the
// TOLLGATE_REGISTRY_* environment, for callers that hold credentials per registry (tollgate
// serve). Empty credentials fall back to the docker config, else anonymous access.
func OpenRegistry(ctx context.Context, ref string, creds Credentials, lim Limits) (*Source, error) {
	o := &opener{lim: lim}
	return o.resolveRegistry(ctx, ref, ref, creds, credsHintEnv)
}

// registryError says whose fault a registry failure is: a missing image or refused credentials
// are bad input (exit 2); anything else (network, server error) is infrastructure (exit 3).
func registryError(input string, err error, credsHint string) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return &model.InputError{Err: fmt.Errorf("image %s not found in its registry: %v", input, err)}
		case http.StatusUnauthorized, http.StatusForbidden:
			return &model.InputError{Err: fmt.Errorf("image %s: access denied (%s): %v", input, credsHint, err)}
		}
	}
	return &model.ToolError{Tool: "registry", Err: fmt.Errorf("%s is not a local file, and reading it from its registry failed: %w", input, err)}
}
