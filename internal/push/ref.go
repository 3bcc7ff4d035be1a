package push

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PinnedRef turns a published reference as registries and Dagger report it (repo:tag@sha256:...
// or repo@sha256:...) into repo@sha256:..., the form every release stage uses.
func PinnedRef(published string) (string, error) {
	base, dg, ok := strings.Cut(strings.TrimSpace(published), "@")
	if !ok {
		return "", fmt.Errorf("published reference %q has no digest", published)
	}
	h, err := v1.NewHash(dg)
	if err != nil {
		return "", fmt.Errorf("published reference %q: %w", published, err)
	}
	r, err := name.ParseReference(base)
	if err != nil {
		return "", fmt.Errorf("published reference %q: %w", published, err)
	}
	return r.Context().Digest(h.String()).String(), nil
}
