package testimage

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Small returns a small image with random content (so every call differs) for platform
// ("linux/amd64"): enough for signing tests, where the content does not matter but the digest does.
func Small(platform string) (v1.Image, error) {
	img, err := random.Image(512, 1)
	if err != nil {
		return nil, err
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", platform, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	return mutate.ConfigFile(img, cf)
}

// Index returns an OCI image index with one Small image per platform, e.g.
// Index("linux/amd64", "linux/arm64").
func Index(platforms ...string) (v1.ImageIndex, error) {
	if len(platforms) == 0 {
		return nil, fmt.Errorf("index: no platform")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, pl := range platforms {
		img, err := Small(pl)
		if err != nil {
			return nil, err
		}
		p, _ := v1.ParsePlatform(pl)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	return idx, nil
}

// PlatformOf is the os/arch[/variant] of a descriptor, "" when unknown.
func PlatformOf(d v1.Descriptor) string {
	if d.Platform == nil {
		return ""
	}
	return strings.TrimSuffix(d.Platform.String(), "/")
}
