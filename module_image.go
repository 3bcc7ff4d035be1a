package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Where a tool container finds the image. These paths are the module's business: messages
// name the image as the user gave it (see hidePaths), never by these paths.
const (
	imageMountTar = "/tollgate/image.tar"
	imageMountDir = "/tollgate/image"
)

// credsHint is how a Dagger user passes registry credentials.
const credsHint = "pass --registry-username and --registry-password (a secret, e.g. env://REGISTRY_TOKEN)"

// imageArgs are the image arguments every image stage takes.
type imageArgs struct {
	ctr      *dagger.Container
	ref      string
	user     string
	password *dagger.Secret
}

// check rejects combinations that cannot mean anything, before anything is fetched.
func (a imageArgs) check(stage string) error {
	if a.ctr != nil && a.ref != "" {
		return &model.InputError{Err: fmt.Errorf("%s: pass either --image (a container) or --image-ref (a registry reference), not both", stage)}
	}
	if (a.user == "") != (a.password == nil) {
		return &model.InputError{Err: fmt.Errorf("%s: --registry-username and --registry-password go together", stage)}
	}
	return nil
}

// imageInput is the image the sbom and scan stages work on, resolved once so that both describe
// the same image: a container, an image file or layout directory in the source, or a registry
// reference pinned by digest.
type imageInput struct {
	ctr  *dagger.Container // handed over as an OCI layout tarball
	file *dagger.File      // docker or OCI archive from the source
	dir  *dagger.Directory // OCI layout directory from the source
	ref  string            // repo@sha256:..., resolved from the user's reference
	// name is how messages, reports and the SBOM name the image: the container's digest, the
	// pinned reference, or the path as configured in tollgate.yaml.
	name     string
	digest   string // manifest digest, when known
	registry string // registry host of ref, for credentials
	user     string
	password *dagger.Secret
}

// tarball is the image as a tar archive (containers and image files), nil otherwise.
func (i *imageInput) tarball() *dagger.File {
	if i.ctr != nil {
		return i.ctr.AsTarball()
	}
	return i.file
}

// resolveImage turns the arguments (or, without them, the image tollgate.yaml names) into the
// image to work on. A registry reference is pinned by digest here, like the native runner does,
// so a moving tag cannot make the SBOM and the scan describe two images, and a cached result
// always belongs to the image it names.
func (m *Tollgate) resolveImage(ctx context.Context, stage string, a imageArgs, configured string) (*imageInput, error) {
	if err := a.check(stage); err != nil {
		return nil, err
	}
	switch {
	case a.ctr != nil:
		d, err := containerDigest(ctx, a.ctr)
		if err != nil {
			return nil, err
		}
		return &imageInput{ctr: a.ctr, name: d, digest: d}, nil
	case a.ref != "":
		return resolveRef(ctx, stage, a.ref, a.user, a.password)
	case configured != "":
		// A tarball or OCI layout dir in the source, else a registry reference.
		if ok, _ := m.Source.Exists(ctx, configured, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeDirectoryType}); ok {
			return &imageInput{dir: m.Source.Directory(configured), name: configured}, nil
		}
		if ok, _ := m.Source.Exists(ctx, configured, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType}); ok {
			return &imageInput{file: m.Source.File(configured), name: configured}, nil
		}
		return resolveRef(ctx, stage, configured, a.user, a.password)
	}
	return nil, &model.InputError{Err: fmt.Errorf("%s: no image: pass --image (a container) or --image-ref (a registry reference), or set scan.image in tollgate.yaml", stage)}
}

// resolveRef pins a registry reference by digest with the same code as the native runner. The
// password is read here, in the module's own process, to authenticate that one request; it never
// becomes an argument, a file or a log line.
func resolveRef(ctx context.Context, stage, ref, user string, password *dagger.Secret) (*imageInput, error) {
	r, err := checkRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stage, err)
	}
	creds := image.Credentials{Username: user}
	if password != nil {
		if creds.Password, err = password.Plaintext(ctx); err != nil {
			return nil, &model.InputError{Err: fmt.Errorf("%s: read --registry-password: %w", stage, err)}
		}
	}
	src, err := image.ResolveRegistry(ctx, ref, creds, credsHint)
	if err != nil {
		return nil, err
	}
	return &imageInput{ref: src.Ref, name: src.Ref, digest: src.Digest, registry: r.Context().RegistryStr(), user: user, password: password}, nil
}

// checkRef parses a registry reference and refuses one on the loopback address: the tools run
// in their own containers, where 127.0.0.1 is the container itself, so such a reference can
// only fail, and later with a confusing "connection refused".
func checkRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, &model.InputError{Err: fmt.Errorf("image reference %q is not valid: %v", ref, err)}
	}
	host := r.Context().RegistryStr()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || strings.EqualFold(host, "localhost") {
		return nil, &model.InputError{Err: fmt.Errorf("image reference %q names a registry on the loopback address: the tools run in their own containers, where %s is the container itself; use an address of the host that containers reach (e.g. its LAN or bridge IP, such as 10.x.y.z:5000), or pass the image as a container (--image)", ref, host)}
	}
	return r, nil
}

// containerDigest is the manifest digest of a container image: the digest the image gets in an
// OCI layout (its AsTarball), read from index.json with tar in the pinned trivy image (which has
// tar and a shell; the scan stage pulls it anyway).
func containerDigest(ctx context.Context, ctr *dagger.Container) (string, error) {
	out, err := toolImage("trivy").
		WithMountedFile(imageMountTar, ctr.AsTarball()).
		WithExec([]string{"tar", "-xOf", imageMountTar, "index.json"}).
		Stdout(ctx)
	if err != nil {
		return "", &model.ToolError{Tool: "image", Err: fmt.Errorf("read the container's digest: %s", hidePaths(err.Error(), map[string]string{imageMountTar: "the container's OCI tarball"}))}
	}
	return indexDigest([]byte(out))
}

// indexDigest is the digest of the single image manifest an OCI index.json lists.
func indexDigest(b []byte) (string, error) {
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return "", &model.ToolError{Tool: "image", Err: fmt.Errorf("the container's OCI index is not JSON: %v", err)}
	}
	if len(idx.Manifests) != 1 || !strings.HasPrefix(idx.Manifests[0].Digest, "sha256:") {
		return "", &model.ToolError{Tool: "image", Err: errors.New("the container's OCI index does not list exactly one image manifest")}
	}
	return idx.Manifests[0].Digest, nil
}
