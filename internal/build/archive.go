package build

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// ArchiveDigest reads the digest of the single image (manifest or index) an OCI archive's
// index.json points to: the digest sbom, scan and push work on.
func ArchiveDigest(archive string) (string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", errors.New("no index.json in the archive")
		}
		if err != nil {
			return "", fmt.Errorf("read %s: %w", archive, err)
		}
		if path.Clean(h.Name) != "index.json" {
			continue
		}
		var idx struct {
			Manifests []struct {
				Digest string `json:"digest"`
			} `json:"manifests"`
		}
		if err := json.NewDecoder(io.LimitReader(tr, 4<<20)).Decode(&idx); err != nil {
			return "", fmt.Errorf("index.json: %w", err)
		}
		if len(idx.Manifests) != 1 {
			return "", fmt.Errorf("index.json lists %d entries, want 1", len(idx.Manifests))
		}
		return idx.Manifests[0].Digest, nil
	}
}
