package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// candidate is one image manifest found in an index, with the platform it is for.
type candidate struct {
	desc     v1.Descriptor
	platform string
}

// wantPlatform is the image picked from a multi-platform index: the tools' default platform.
const wantPlatform = "linux/amd64"

// openLayoutDir validates an OCI image layout directory and picks its image. When the index
// holds more than that one image, a pruned layout with just the chosen one is made in the work
// dir, because trivy always takes the first manifest of index.json.
func (o *opener) openLayoutDir(ctx context.Context, display, dir string) (*Source, error) {
	b, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if err != nil {
		if _, e2 := os.Stat(filepath.Join(dir, "manifest.json")); e2 == nil {
			return nil, inputErr(display, "directory looks like an extracted docker save: pass the tarball instead")
		}
		return nil, inputErr(display, "not an OCI image layout directory (no oci-layout file)")
	}
	var lay struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(b, &lay); err != nil || lay.Version == "" {
		return nil, inputErr(display, "OCI layout: oci-layout file is not valid JSON with imageLayoutVersion")
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, inputErr(display, "OCI layout: unreadable index.json: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, inputErr(display, "OCI layout: invalid index.json: %v", err)
	}
	var cands []candidate
	if err := collect(idx, im, "", 0, &cands); err != nil {
		return nil, inputErr(display, "OCI layout: %v", err)
	}
	chosen, note, err := choose(cands)
	if err != nil {
		return nil, inputErr(display, "OCI layout: %v", err)
	}
	lp := layout.Path(dir)
	mf, err := verifyLayoutImage(lp, chosen.desc)
	if err != nil {
		return nil, inputErr(display, "OCI layout: image %s: %v", chosen.desc.Digest, err)
	}
	src := &Source{Kind: KindOCILayout, Path: dir, Digest: chosen.desc.Digest.String(), Platform: chosen.platform, Note: note}
	onlyTop := len(im.Manifests) == 1 && im.Manifests[0].Digest == chosen.desc.Digest
	if !onlyTop {
		pruned, err := o.prune(ctx, lp, chosen.desc, mf)
		if err != nil {
			return nil, fmt.Errorf("OCI layout %s: %w", display, err)
		}
		src.Path = pruned
	}
	if strings.ContainsAny(src.Path, ":@") {
		// trivy reads "dir:tag" and "dir@digest" in --input as a selector: hand it a plain path.
		link, err := o.mkWork("oci-link-*")
		if err != nil {
			return nil, fmt.Errorf("OCI layout %s: %w", display, err)
		}
		if err := os.Symlink(src.Path, filepath.Join(link, "layout")); err != nil {
			return nil, fmt.Errorf("OCI layout %s: %w", display, err)
		}
		src.Path = filepath.Join(link, "layout")
	}
	return src, nil
}

// collect walks an index (and nested indexes, a few levels deep) for image manifests.
func collect(idx v1.ImageIndex, im *v1.IndexManifest, parentPlatform string, depth int, out *[]candidate) error {
	if depth > 3 {
		return errors.New("image indexes nested too deeply")
	}
	for _, d := range im.Manifests {
		plat := parentPlatform
		if d.Platform != nil {
			plat = platformString(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant)
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return fmt.Errorf("nested index %s: %v", d.Digest, err)
			}
			cim, err := child.IndexManifest()
			if err != nil {
				return fmt.Errorf("nested index %s: %v", d.Digest, err)
			}
			if err := collect(child, cim, plat, depth+1, out); err != nil {
				return err
			}
		case d.MediaType.IsImage() || d.MediaType == "":
			// Buildx stores provenance/SBOM attestations as unknown/unknown manifests: not images to scan.
			if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" || plat == "unknown/unknown" {
				continue
			}
			*out = append(*out, candidate{desc: d, platform: plat})
		}
	}
	return nil
}

// choose picks the only image, or the linux/amd64 one of several, and says which.
func choose(cands []candidate) (candidate, string, error) {
	switch len(cands) {
	case 0:
		return candidate{}, "", errors.New("index lists no image manifest")
	case 1:
		return cands[0], "", nil
	}
	var plats []string
	var match []candidate
	for _, c := range cands {
		plats = append(plats, orUnknown(c.platform))
		if c.platform == wantPlatform || strings.HasPrefix(c.platform, wantPlatform+"/") {
			match = append(match, c)
		}
	}
	if len(match) == 0 {
		return candidate{}, "", fmt.Errorf("index holds %d images (%s) and none is %s: pass a single-image layout", len(cands), strings.Join(plats, ", "), wantPlatform)
	}
	c := match[0]
	return c, fmt.Sprintf("picked the %s image %s of %d in the index (%s)", wantPlatform, c.desc.Digest, len(cands), strings.Join(plats, ", ")), nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown platform"
	}
	return s
}

func platformString(os, arch, variant string) string {
	s := os + "/" + arch
	if variant != "" {
		s += "/" + variant
	}
	return s
}

// verifyLayoutImage checks the manifest and config against their digests and that every layer
// blob exists with the size the manifest says (hashing layers is left to the tools that read them).
func verifyLayoutImage(lp layout.Path, d v1.Descriptor) (*v1.Manifest, error) {
	raw, err := readBlob(lp, d.Digest)
	if err != nil {
		return nil, fmt.Errorf("manifest: %v", err)
	}
	mf, err := v1.ParseManifest(strings.NewReader(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("manifest is not valid JSON: %v", err)
	}
	if mf.Config.MediaType != "" && !mf.Config.MediaType.IsConfig() && mf.Config.MediaType != types.OCIConfigJSON {
		return nil, fmt.Errorf("not a container image (config media type %s)", mf.Config.MediaType)
	}
	rawCfg, err := readBlob(lp, mf.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	cf, err := v1.ParseConfigFile(strings.NewReader(string(rawCfg)))
	if err != nil {
		return nil, fmt.Errorf("config is not valid JSON: %v", err)
	}
	if len(cf.RootFS.DiffIDs) != len(mf.Layers) {
		return nil, fmt.Errorf("config lists %d layers but the manifest has %d", len(cf.RootFS.DiffIDs), len(mf.Layers))
	}
	for _, l := range mf.Layers {
		p, err := blobPath(lp, l.Digest)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %v", l.Digest, err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("layer %s is missing", l.Digest)
		}
		if fi.Size() != l.Size {
			return nil, fmt.Errorf("layer %s is %d bytes, the manifest says %d", l.Digest, fi.Size(), l.Size)
		}
	}
	return mf, nil
}

func blobPath(lp layout.Path, h v1.Hash) (string, error) {
	if (h.Algorithm != "sha256" && h.Algorithm != "sha512") || strings.ContainsAny(h.Hex, "/\\.") {
		return "", fmt.Errorf("unsupported digest %s", h)
	}
	return filepath.Join(string(lp), "blobs", h.Algorithm, h.Hex), nil
}

// readBlob reads a small blob (manifest, config) and checks its digest.
func readBlob(lp layout.Path, h v1.Hash) ([]byte, error) {
	p, err := blobPath(lp, h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("blob %s is missing", h)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, err
	}
	if h.Algorithm == "sha256" {
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != h.Hex {
			return nil, fmt.Errorf("blob %s is corrupt: content does not match its digest", h)
		}
	}
	return b, nil
}

// prune makes a layout holding only the chosen image, hard-linking blobs (copying across devices).
func (o *opener) prune(ctx context.Context, lp layout.Path, d v1.Descriptor, mf *v1.Manifest) (string, error) {
	dir, err := o.mkWork("oci-one-*")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	digests := []v1.Hash{d.Digest, mf.Config.Digest}
	for _, l := range mf.Layers {
		digests = append(digests, l.Digest)
	}
	for _, h := range digests {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		srcP, _ := blobPath(lp, h)
		dst := filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
		if _, err := os.Stat(dst); err == nil {
			continue // the same blob twice (an empty layer repeated)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.Link(srcP, dst); err != nil {
			if err := copyFile(srcP, dst); err != nil {
				return "", fmt.Errorf("copy blob %s: %w", h, err)
			}
		}
	}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{d}}
	b, err := json.Marshal(idx)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return "", err
	}
	ok = true
	return dir, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
