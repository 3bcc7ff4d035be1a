// Package push is the push stage: it publishes the image the build produced (or an image
// archive given to it) to the configured repository with go-containerregistry, verifies the
// registry serves it under its digest, and hands "repo@sha256:..." to the release stages after
// it (sign, deploy), which never use a tag.
package push

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Name is the stage name.
const Name = "push"

// Tool is the pusher reported for this stage: Tollgate's own, on go-containerregistry.
func Tool() model.Tool { return model.Tool{Name: "tollgate-push", Version: "1"} }

// DefaultReachTimeout bounds the first contact with the registry: a registry that does not
// answer fails the push quickly instead of using up the whole push.timeout.
const DefaultReachTimeout = 30 * time.Second

// Request is one push.
type Request struct {
	// Image is an OCI archive (what the build writes), an OCI layout directory or a
	// docker-save tarball.
	Image      string
	Repository string
	Tags       []string
	// Insecure allows plain HTTP and unverified TLS; only for loopback registries.
	Insecure     bool
	Timeout      time.Duration // whole push (default 10m)
	ReachTimeout time.Duration // first answer from the registry (default 30s)
	WorkDir      string        // scratch space for extracting an archive ("" = temp dir)
}

// Pushed is a finished, verified push.
type Pushed struct {
	Ref    string   // repo@sha256:...
	Digest string   // sha256:...
	Tags   []string // repo:tag references pointing at Digest
}

// Push publishes the image by digest, then points each tag at it, then checks that the registry
// serves the digest and every tag resolves to it. Nothing counts as pushed until that check
// passed. Refused credentials or a bad image are *model.InputError; an unreachable or failing
// registry is a *model.ToolError.
func Push(ctx context.Context, req Request) (*Pushed, error) {
	if req.Timeout == 0 {
		req.Timeout = 10 * time.Minute
	}
	if req.ReachTimeout == 0 {
		req.ReachTimeout = DefaultReachTimeout
	}
	var opts []name.Option
	if req.Insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(req.Repository, append(opts, name.StrictValidation)...)
	if err != nil {
		return nil, &model.InputError{Err: fmt.Errorf("push.repository %q: %w", req.Repository, err)}
	}
	if req.Insecure && !config.IsLoopback(repo.RegistryStr()) {
		return nil, &model.InputError{Err: fmt.Errorf("push.insecure is allowed only for loopback registries, not %s", repo.RegistryStr())}
	}
	work := req.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "tollgate-push-*")
		if err != nil {
			return nil, &model.ToolError{Tool: "registry", Err: err}
		}
		defer os.RemoveAll(d)
		work = d
	}
	src, err := Open(req.Image, work)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(image.Keychain(repo.RegistryStr())),
		remote.WithTransport(guard(req.Insecure)), remote.WithUserAgent("tollgate/" + model.Version)}

	pinned := repo.Digest(src.Digest.String())
	fail := func(what string, err error) error { return registryErr(ctx, req, repo, what, err) }
	// First contact, bounded: does the registry answer, and does it know the image already?
	rctx, rcancel := context.WithTimeout(ctx, req.ReachTimeout)
	_, herr := remote.Head(pinned, append(ropts, remote.WithContext(rctx))...)
	reachErr := rctx.Err()
	rcancel()
	if herr != nil && !isNotFound(herr) {
		if reachErr != nil && ctx.Err() == nil {
			return nil, &model.ToolError{Tool: "registry", Err: fmt.Errorf("%s did not answer within %s: %w", repo.RegistryStr(), req.ReachTimeout, context.DeadlineExceeded)}
		}
		return nil, fail("reach", herr)
	}
	if err := src.write(pinned, ropts); err != nil {
		return nil, fail("push "+pinned.String(), err)
	}
	out := &Pushed{Ref: pinned.String(), Digest: src.Digest.String()}
	for _, t := range req.Tags {
		tag := repo.Tag(t)
		if err := src.write(tag, ropts); err != nil {
			return nil, fail("tag "+tag.String(), err)
		}
		out.Tags = append(out.Tags, tag.String())
	}
	// Verify: the registry must serve exactly this digest, under the digest and every tag.
	refs := []name.Reference{pinned}
	for _, t := range req.Tags {
		refs = append(refs, repo.Tag(t))
	}
	for _, r := range refs {
		d, err := remote.Head(r, ropts...)
		if err != nil {
			return nil, fail("verify "+r.String(), err)
		}
		if d.Digest != src.Digest {
			return nil, &model.ToolError{Tool: "registry", Err: fmt.Errorf("after the push %s resolves to %s, not the pushed %s", r, d.Digest, src.Digest)}
		}
	}
	return out, nil
}

// Source is an image ready to push: a single image or an index (several platforms).
type Source struct {
	Digest v1.Hash
	img    v1.Image
	idx    v1.ImageIndex
}

func (s *Source) write(ref name.Reference, opts []remote.Option) error {
	if s.idx != nil {
		return remote.WriteIndex(ref, s.idx, opts...)
	}
	return remote.Write(ref, s.img, opts...)
}

// Open reads an image to push: an OCI archive or layout (the image or index its index.json
// names; exactly one) or a docker-save tarball (one image). Anything else is bad input.
func Open(input, workDir string) (*Source, error) {
	st, err := os.Stat(input)
	if err != nil {
		return nil, &model.InputError{File: input, Err: fmt.Errorf("image to push: %w", err)}
	}
	dir := input
	if !st.IsDir() {
		isOCI, err := hasEntry(input, "index.json")
		if err != nil {
			return nil, &model.InputError{File: input, Err: fmt.Errorf("image to push is not a tar archive: %w", err)}
		}
		if !isOCI {
			img, err := tarball.ImageFromPath(input, nil)
			if err != nil {
				return nil, &model.InputError{File: input, Err: fmt.Errorf("image to push: neither an OCI archive nor a docker-save tarball: %w", err)}
			}
			d, err := img.Digest()
			if err != nil {
				return nil, &model.InputError{File: input, Err: err}
			}
			return &Source{Digest: d, img: img}, nil
		}
		if dir, err = extract(input, workDir); err != nil {
			return nil, err
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, &model.InputError{File: input, Err: fmt.Errorf("image to push: not an OCI layout: %w", err)}
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, &model.InputError{File: input, Err: err}
	}
	if len(im.Manifests) != 1 {
		return nil, &model.InputError{File: input, Err: fmt.Errorf("image to push: index.json names %d images; push needs exactly one image or index", len(im.Manifests))}
	}
	desc := im.Manifests[0]
	s := &Source{Digest: desc.Digest}
	switch {
	case desc.MediaType.IsIndex():
		s.idx, err = idx.ImageIndex(desc.Digest)
	case desc.MediaType.IsImage():
		s.img, err = idx.Image(desc.Digest)
	default:
		err = fmt.Errorf("%s is not an image or index", desc.MediaType)
	}
	if err != nil {
		return nil, &model.InputError{File: input, Err: fmt.Errorf("image to push: %w", err)}
	}
	return s, nil
}

func hasEntry(archive, entry string) (bool, error) {
	f, err := os.Open(archive)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if filepath.Clean(h.Name) == entry {
			return true, nil
		}
	}
}

// extract unpacks an OCI archive into a fresh dir under workDir, refusing entries that would
// leave it.
func extract(archive, workDir string) (string, error) {
	dir, err := os.MkdirTemp(workDir, "push-layout-*")
	if err != nil {
		return "", &model.ToolError{Tool: "registry", Err: err}
	}
	f, err := os.Open(archive)
	if err != nil {
		return "", &model.InputError{File: archive, Err: err}
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir, nil
		}
		if err != nil {
			return "", &model.InputError{File: archive, Err: fmt.Errorf("read OCI archive: %w", err)}
		}
		rel := filepath.Clean(h.Name)
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", &model.InputError{File: archive, Err: fmt.Errorf("OCI archive entry %q leaves the archive", h.Name)}
		}
		target := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return "", &model.ToolError{Tool: "registry", Err: err}
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return "", &model.ToolError{Tool: "registry", Err: err}
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return "", &model.ToolError{Tool: "registry", Err: err}
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", &model.ToolError{Tool: "registry", Err: err}
			}
		}
	}
}

// guard is the HTTP transport for pushes: plain HTTP only with push.insecure (which config
// accepts only for loopback registries), and then never to a non-loopback host, not even
// after a redirect.
func guard(insecure bool) http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback registries only (checked above)
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Scheme == "http" && !(insecure && config.IsLoopback(r.URL.Host)) {
			return nil, fmt.Errorf("refusing plain HTTP to %s: Tollgate pushes over HTTPS; plain HTTP needs push.insecure: true, which is allowed only for loopback registries", r.URL.Host)
		}
		return t.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// registryErr says whose fault a failed push is: refused credentials are the user's to fix
// (exit 2); anything else (network, timeout, server error) is infrastructure (exit 3).
func registryErr(ctx context.Context, req Request, repo name.Repository, what string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return &model.InputError{Err: fmt.Errorf("%s: access to %s denied (set %s/%s or log in with docker login): %v",
			what, repo, image.EnvRegistryUsername, image.EnvRegistryPassword, err)}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &model.ToolError{Tool: "registry", Err: fmt.Errorf("%s: the push did not finish within %s (push.timeout): %v", what, req.Timeout, err)}
	}
	return &model.ToolError{Tool: "registry", Err: fmt.Errorf("%s: %w", what, err)}
}
