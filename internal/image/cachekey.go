package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Keyer is the part of the result cache's key builder (resultcache.Key) that an image input
// needs; the image package does not import the cache.
type Keyer interface {
	String(name, value string)
	File(name, path string)
	Tree(name, dir string, skip func(rel string, d fs.DirEntry) bool)
	NotCacheable(reason string)
	External()
}

// keyResolveTimeout bounds resolving a tag for a cache key; on timeout the stage just runs (and
// reports the registry problem itself).
const keyResolveTimeout = 15 * time.Second

// AddKey adds the identity of an image input to a result-cache key, deciding what the input is
// the way Open does: a local archive by its content, an OCI layout directory by all its files,
// a registry reference by the digest it resolves to now (a HEAD request: the tag may have moved
// since the last run; a reference by digest needs no request). path resolves a relative file
// input against the project root.
func AddKey(ctx context.Context, k Keyer, input string, path func(string) string) {
	k.External()
	in := strings.TrimSpace(input)
	k.String("image-input", in)
	for _, p := range []string{"registry:", "docker://"} {
		if rest, ok := strings.CutPrefix(in, p); ok {
			addRegistryKey(ctx, k, rest)
			return
		}
	}
	p := in
	for prefix := range pathSchemes {
		if rest, ok := strings.CutPrefix(in, prefix); ok {
			p = rest
			break
		}
	}
	local := p
	if path != nil && !strings.Contains(p, "://") {
		local = path(p)
	}
	fi, err := os.Stat(local)
	switch {
	case err == nil && fi.IsDir():
		k.Tree("image", local, nil)
	case err == nil:
		k.File("image", local)
	case p != in || looksLikePath(p) || !errors.Is(err, os.ErrNotExist):
		k.File("image", local) // missing: the stage reports it; the key records the absence
	default:
		addRegistryKey(ctx, k, in)
	}
}

func addRegistryKey(ctx context.Context, k Keyer, ref string) {
	r, err := name.ParseReference(ref)
	if err != nil {
		k.NotCacheable(fmt.Sprintf("image %q is not a valid reference", ref))
		return
	}
	if d, ok := r.(name.Digest); ok {
		k.String("image-digest", d.DigestStr())
		return
	}
	ctx, cancel := context.WithTimeout(ctx, keyResolveTimeout)
	defer cancel()
	desc, err := remote.Head(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(Keychain(r.Context().RegistryStr())))
	if err != nil {
		k.NotCacheable(fmt.Sprintf("cannot resolve %s to a digest: %v", ref, err))
		return
	}
	k.String("image-digest", desc.Digest.String())
}

// KeyBuilt adds an image built in this run: its digest and platforms say all there is.
func KeyBuilt(k Keyer, digest string, platforms []string) {
	k.External()
	k.String("image-digest", digest)
	k.String("image-platforms", strings.Join(platforms, ","))
}
