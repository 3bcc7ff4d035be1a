package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// OCI media types of what DockerArchiveLayout writes.
const (
	ociLayoutFile    = `{"imageLayoutVersion":"1.0.0"}`
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIConfig      = "application/vnd.oci.image.config.v1+json"
	mtOCILayer       = "application/vnd.oci.image.layer.v1.tar"
	mtOCILayerGzip   = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtOCILayerZstd   = "application/vnd.oci.image.layer.v1.tar+zstd"
	annotationRefTag = "org.opencontainers.image.ref.name"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// DockerArchiveLayout writes the image of a docker-save tarball (src.Kind docker-archive) as an
// OCI image layout directory under workDir and returns the directory. It reads the archive once,
// front to back, copying the config and each layer into a blob named by the digest computed while
// copying; layers keep their compression.
//
// It exists for trivy: trivy opens a docker archive through a reader it cannot seek, so it reads
// the tarball again from the start for manifest.json, for the config, for every layer, and hashes
// every layer to build a manifest — several passes over the whole archive. From a layout it reads
// each blob once, by digest. The layout holds the same config and layer bytes, so the scan sees
// the same image (same image ID, same layer digests).
func DockerArchiveLayout(ctx context.Context, src *Source, workDir string) (string, error) {
	if src.Kind != KindDockerArchive {
		return "", fmt.Errorf("%s is a %s, not a docker archive", src.Name(), src.Kind)
	}
	opener := func() (io.ReadCloser, error) { return os.Open(src.Path) }
	m, err := tarball.LoadManifest(opener) // seekable: reads the headers, not the layers
	if err != nil || len(m) != 1 {
		return "", fmt.Errorf("docker archive %s: manifest.json: %v", src.Path, err)
	}
	want := map[string]bool{cleanName(m[0].Config): true}
	for _, l := range m[0].Layers {
		want[cleanName(l)] = true
	}
	dir, err := os.MkdirTemp(workDir, "trivy-layout-*")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return "", err
	}
	copied, links, err := copyBlobs(ctx, src.Path, blobs, want)
	if err != nil {
		return "", err
	}
	resolve := func(name string) (blob, error) {
		name = cleanName(name)
		for range 16 { // docker save links repeated layers to their first copy
			if b, ok := copied[name]; ok {
				return b, nil
			}
			target, ok := links[name]
			if !ok {
				break
			}
			name = target
		}
		return blob{}, fmt.Errorf("docker archive %s: %s is listed in manifest.json but not in the archive", src.Path, name)
	}
	cfg, err := resolve(m[0].Config)
	if err != nil {
		return "", err
	}
	manifest := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{SchemaVersion: 2, MediaType: mtOCIManifest, Config: descriptor{MediaType: mtOCIConfig, Digest: cfg.digest, Size: cfg.size}}
	for _, l := range m[0].Layers {
		b, err := resolve(l)
		if err != nil {
			return "", err
		}
		manifest.Layers = append(manifest.Layers, descriptor{MediaType: b.layerType(), Digest: b.digest, Size: b.size})
	}
	mb, err := json.Marshal(manifest)
	if err != nil {
		return "", err
	}
	md := sha256.Sum256(mb)
	mdHex := hex.EncodeToString(md[:])
	if err := os.WriteFile(filepath.Join(blobs, mdHex), mb, 0o644); err != nil {
		return "", err
	}
	desc := descriptor{MediaType: mtOCIManifest, Digest: "sha256:" + mdHex, Size: int64(len(mb))}
	if len(m[0].RepoTags) > 0 {
		desc.Annotations = map[string]string{annotationRefTag: m[0].RepoTags[0]}
	}
	index, err := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, "application/vnd.oci.image.index.v1+json", []descriptor{desc}})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(ociLayoutFile), 0o644); err != nil {
		return "", err
	}
	ok = true
	return dir, nil
}

// blob is one archive member copied into the layout.
type blob struct {
	digest string // sha256:...
	size   int64
	head   []byte // first bytes, for the compression
}

func (b blob) layerType() string {
	switch {
	case bytes.HasPrefix(b.head, gzipMagic):
		return mtOCILayerGzip
	case bytes.HasPrefix(b.head, zstdMagic):
		return mtOCILayerZstd
	}
	return mtOCILayer
}

// copyBlobs reads the archive once and copies the members named in want into dir, each under its
// SHA-256. It returns them by member name, and the archive's symbolic and hard links (name ->
// target name), which docker save uses for repeated layers.
func copyBlobs(ctx context.Context, archive, dir string, want map[string]bool) (map[string]blob, map[string]string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	copied := map[string]blob{}
	links := map[string]string{}
	buf := make([]byte, 1<<20)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return copied, links, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", archive, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		name := cleanName(h.Name)
		switch h.Typeflag {
		case tar.TypeSymlink:
			links[name] = cleanName(path.Join(path.Dir(name), h.Linkname))
			continue
		case tar.TypeLink:
			links[name] = cleanName(h.Linkname)
			continue
		case tar.TypeReg:
		default:
			continue
		}
		if !want[name] {
			continue
		}
		b, err := copyBlob(tr, dir, buf)
		if err != nil {
			return nil, nil, fmt.Errorf("copy %s from %s: %w", name, archive, err)
		}
		copied[name] = b
	}
}

func copyBlob(r io.Reader, dir string, buf []byte) (blob, error) {
	tmp, err := os.CreateTemp(dir, ".part-*")
	if err != nil {
		return blob{}, err
	}
	defer os.Remove(tmp.Name()) // after a rename there is nothing left to remove
	h := sha256.New()
	head := &headWriter{n: 4}
	n, cerr := io.CopyBuffer(io.MultiWriter(tmp, h, head), r, buf)
	if err := errors.Join(cerr, tmp.Close()); err != nil {
		return blob{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(dir, sum)); err != nil {
		return blob{}, err
	}
	return blob{digest: "sha256:" + sum, size: n, head: head.b}, nil
}

// headWriter keeps the first n bytes written to it.
type headWriter struct {
	n int
	b []byte
}

func (w *headWriter) Write(p []byte) (int, error) {
	if k := w.n - len(w.b); k > 0 {
		w.b = append(w.b, p[:min(k, len(p))]...)
	}
	return len(p), nil
}
