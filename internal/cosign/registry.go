package cosign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// DefaultRegistryTimeout bounds one resolution of a reference (manifest and nested indexes), so
// a registry that accepts connections and never answers fails the stage instead of hanging it.
const DefaultRegistryTimeout = 45 * time.Second

// RegistryOptions say how Tollgate reaches a registry.
type RegistryOptions struct {
	// Creds are explicit credentials for the image's registry (TOLLGATE_REGISTRY_USERNAME /
	// _PASSWORD); when unset, the docker config is used.
	Creds image.Credentials
	// AllowHTTP permits plain HTTP to the hosts HTTPHosts accepts. Without it, a registry that
	// only speaks plain HTTP is refused.
	AllowHTTP bool
	// HTTPHosts decides which hosts may be reached over plain HTTP when AllowHTTP is set
	// (default IsLoopback).
	HTTPHosts func(host string) bool
	// Timeout bounds one resolution (default DefaultRegistryTimeout).
	Timeout time.Duration
	// Transport is the base HTTP transport (default remote.DefaultTransport).
	Transport http.RoundTripper
}

// IsLoopback reports whether host (with or without port) is a loopback address or localhost.
func IsLoopback(host string) bool {
	h := hostOnly(host)
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackOrPrivate reports whether host is loopback or a private (RFC 1918 / RFC 4193) IP
// address: what the Dagger runner accepts for plain HTTP, since inside the engine a registry on
// the host is reached over a private bridge, never over loopback.
func IsLoopbackOrPrivate(host string) bool {
	if IsLoopback(host) {
		return true
	}
	ip := net.ParseIP(hostOnly(host))
	return ip != nil && ip.IsPrivate()
}

func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.Trim(host, "[]")
}

// PlainHTTPError is a request Tollgate refused because it would travel over plain HTTP.
type PlainHTTPError struct{ Host string }

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("refusing plain HTTP to %s", e.Host)
}

// httpGuard refuses plain-HTTP requests to hosts not allowed (go-containerregistry falls back to
// HTTP for loopback and private addresses on its own; this keeps that to when it was asked for).
type httpGuard struct {
	base    http.RoundTripper
	allowed func(host string) bool
}

func (g httpGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !g.allowed(r.URL.Host) {
		return nil, &PlainHTTPError{Host: r.URL.Host}
	}
	return g.base.RoundTrip(r)
}

func (o RegistryOptions) transport() http.RoundTripper {
	base := o.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	allowed := func(string) bool { return false }
	if o.AllowHTTP {
		allowed = o.HTTPHosts
		if allowed == nil {
			allowed = IsLoopback
		}
	}
	return httpGuard{base: base, allowed: allowed}
}

// CheckHTTP refuses AllowHTTP for a registry host it does not apply to, so the user learns at
// once that the setting has no effect there (it is an input error).
func (o RegistryOptions) CheckHTTP(registry string) error {
	if !o.AllowHTTP {
		return nil
	}
	ok := o.HTTPHosts
	if ok == nil {
		ok = IsLoopback
	}
	if !ok(registry) {
		return &model.InputError{Err: fmt.Errorf("allow-http-registry: %s is not a loopback registry; plain HTTP is only allowed to 127.0.0.1, ::1 or localhost", registry)}
	}
	return nil
}

// keychain offers explicit credentials for the image's registry only; without them, the docker
// config's.
func (o RegistryOptions) keychain(registry string) authn.Keychain {
	if o.Creds.Set() {
		return credsKeychain{registry: registry, creds: o.Creds}
	}
	return authn.DefaultKeychain
}

type credsKeychain struct {
	registry string
	creds    image.Credentials
}

func (k credsKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() != k.registry {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: k.creds.Username, Password: k.creds.Password}), nil
}

// Subject is an image pinned by digest: what is signed, attested, verified and reported.
type Subject struct {
	// Input is the reference as the user gave it.
	Input string
	// Repo is the repository (registry/path) without tag or digest.
	Repo string
	// Digest is the manifest (or index) digest, sha256:...
	Digest    string
	MediaType string
	// Manifests are an index's children, nested indexes included, each pinned by digest: a
	// multi-platform image is signed and verified along with every one of them.
	Manifests []Manifest
	// ConfigDigest is a single image's config digest (its image ID); "" for an index.
	ConfigDigest string
}

// Manifest is one manifest inside an index.
type Manifest struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType,omitempty"`
	Platform  string `json:"platform,omitempty"` // os/arch[/variant], "" when the index does not say
}

// Ref is the pinned reference repo@sha256:...
func (s *Subject) Ref() string { return s.Repo + "@" + s.Digest }

// IsIndex reports whether the subject is a multi-platform index.
func (s *Subject) IsIndex() bool { return types.MediaType(s.MediaType).IsIndex() }

// Refs are the pinned references that must each carry a signature: the subject and, for an
// index, every manifest in it.
func (s *Subject) Refs() []string {
	out := []string{s.Ref()}
	for _, m := range s.Manifests {
		out = append(out, s.Repo+"@"+m.Digest)
	}
	return out
}

// Describe names the subject for messages: the digest, and the tag it was resolved from.
func (s *Subject) Describe() string {
	if strings.Contains(s.Input, "@") || s.Input == "" {
		return s.Ref()
	}
	return fmt.Sprintf("%s (resolved from %s)", s.Ref(), s.Input)
}

// Resolve pins a reference to its digest (a tag is looked up once; a digest is checked to exist)
// and lists an index's manifests. A missing image or refused credentials are *model.InputError;
// an unreachable, failing or silent registry is a *model.ToolError after o.Timeout.
func Resolve(ctx context.Context, input string, o RegistryOptions) (_ *Subject, err error) {
	in := strings.TrimSpace(input)
	in = strings.TrimPrefix(strings.TrimPrefix(in, "docker://"), "registry:")
	if in == "" {
		return nil, &model.InputError{Err: errors.New("no image: name a registry reference (repo:tag or repo@sha256:...)")}
	}
	ref, perr := name.ParseReference(in, name.StrictValidation)
	if perr != nil {
		if ref, perr = name.ParseReference(in); perr != nil {
			return nil, &model.InputError{Err: fmt.Errorf("image %q is not a registry reference: %v", input, perr)}
		}
	}
	registry := ref.Context().RegistryStr()
	if err := o.CheckHTTP(registry); err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultRegistryTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if err != nil && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = &model.ToolError{Tool: "registry", Err: fmt.Errorf("%s: the registry %s did not answer within %s", input, registry, timeout)}
		}
	}()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.keychain(registry)), remote.WithTransport(o.transport())}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, registryError(input, registry, err)
	}
	s := &Subject{Input: input, Repo: ref.Context().Name(), Digest: desc.Digest.String(), MediaType: string(desc.MediaType)}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != s.Digest {
		return nil, &model.ToolError{Tool: "registry", Err: fmt.Errorf("%s: the registry answered with %s for digest %s", input, s.Digest, d.DigestStr())}
	}
	switch {
	case desc.MediaType.IsIndex():
		if err := collectManifests(ref.Context(), desc.Manifest, opts, &s.Manifests, 0); err != nil {
			return nil, registryError(input, registry, err)
		}
	case desc.MediaType.IsImage():
		m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, &model.ToolError{Tool: "registry", Err: fmt.Errorf("%s: unreadable manifest: %w", input, err)}
		}
		s.ConfigDigest = m.Config.Digest.String()
	default:
		return nil, &model.InputError{Err: fmt.Errorf("image %s: %s is not a container image or index", input, desc.MediaType)}
	}
	return s, nil
}

// collectManifests lists an index's children depth-first, fetching nested indexes.
func collectManifests(repo name.Repository, raw []byte, opts []remote.Option, out *[]Manifest, depth int) error {
	if depth > 4 {
		return errors.New("indexes nested more than 4 deep")
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("unreadable index: %w", err)
	}
	for _, d := range im.Manifests {
		m := Manifest{Digest: d.Digest.String(), MediaType: string(d.MediaType)}
		if d.Platform != nil {
			m.Platform = d.Platform.String()
		}
		*out = append(*out, m)
		if d.MediaType.IsIndex() {
			child, err := remote.Get(repo.Digest(d.Digest.String()), opts...)
			if err != nil {
				return err
			}
			if err := collectManifests(repo, child.Manifest, opts, out, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// registryError says whose fault a registry failure is: a missing image, refused credentials or
// a plain-HTTP registry that was not allowed are bad input (exit 2); anything else (network,
// server error) is infrastructure (exit 3).
func registryError(input, registry string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return &model.InputError{Err: &NotFoundError{Image: input, Err: err}}
		case http.StatusUnauthorized, http.StatusForbidden:
			return &model.InputError{Err: fmt.Errorf("image %s: access denied by %s (set %s/%s or log in with docker login)",
				input, registry, image.EnvRegistryUsername, image.EnvRegistryPassword)}
		}
	}
	var pe *PlainHTTPError
	if errors.As(err, &pe) && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return &model.InputError{Err: fmt.Errorf("image %s: the registry %s speaks plain HTTP; Tollgate only allows that for loopback registries when asked (allow-http-registry)", input, registry)}
	}
	return &model.ToolError{Tool: "registry", Err: fmt.Errorf("%s: reading it from %s failed: %w", input, registry, err)}
}

// NotFoundError says the image does not exist in its registry (wrapped in a *model.InputError).
type NotFoundError struct {
	Image string
	Err   error
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("image %s not found in its registry: %v", e.Image, e.Err)
}

func (e *NotFoundError) Unwrap() error { return e.Err }

// IsNotFound reports whether err says the image does not exist.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}
