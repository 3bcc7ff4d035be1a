package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// entry is what listTar remembers of one tar member.
type entry struct {
	size int64
	typ  byte
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// openArchive reads a tarball: docker save (manifest.json) or an OCI archive (oci-layout +
// index.json, extracted to a layout directory).
func (o *opener) openArchive(ctx context.Context, display, abs string) (*Source, error) {
	head, err := readHead(abs, 4)
	if err != nil {
		return nil, inputErr(display, "read image archive: %w", err)
	}
	switch {
	case len(head) == 0:
		return nil, inputErr(display, "image archive is empty (0 bytes)")
	case bytes.HasPrefix(head, gzipMagic):
		plain, err := o.gunzip(ctx, display, abs)
		if err != nil {
			return nil, err
		}
		src, err := o.openArchive(ctx, display, plain)
		if err == nil {
			src.Note = joinNote("decompressed gzip archive", src.Note)
		}
		return src, err
	case bytes.HasPrefix(head, zstdMagic):
		return nil, inputErr(display, "zstd-compressed archive: decompress it first (zstd -d) or pass the plain tarball")
	}

	entries, err := o.listTar(ctx, display, abs)
	if err != nil {
		return nil, err
	}
	switch {
	case has(entries, "manifest.json"):
		// Docker 25+ `docker save` also writes oci-layout + index.json; manifest.json makes it
		// readable as a docker archive by both tools without extraction.
		return o.openDockerArchive(display, abs, entries)
	case has(entries, "oci-layout") && has(entries, "index.json"):
		dir, err := o.extractOCI(ctx, display, abs)
		if err != nil {
			return nil, err
		}
		src, err := o.openLayoutDir(ctx, display, dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		src.Kind = KindOCIArchive
		src.Note = joinNote("extracted OCI archive to "+dir, src.Note)
		return src, nil
	default:
		return nil, inputErr(display, "tar archive is not a container image: it has neither manifest.json (docker save) nor oci-layout and index.json (OCI archive)")
	}
}

func has(m map[string]entry, name string) bool { _, ok := m[name]; return ok }

func readHead(p string, n int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	k, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:k], nil
}

// listTar reads every header (skipping data with seeks), which also catches truncation.
func (o *opener) listTar(ctx context.Context, display, p string) (map[string]entry, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, inputErr(display, "read image archive: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	out := map[string]entry{}
	var lastEnd int64 // end of the last entry's padded data
	last := ""
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, inputErr(display, "tar archive has no entries: not a container image")
			}
			// archive/tar accepts a stream cut at a block boundary or inside padding as a
			// clean end; a complete archive has two zero blocks after the last entry.
			if pos, err := f.Seek(0, io.SeekCurrent); err == nil && pos < lastEnd+1024 {
				return nil, inputErr(display, "image archive is truncated (no end-of-archive marker after %s)", last)
			}
			return out, nil
		}
		if err != nil {
			return nil, tarErr(display, err)
		}
		if n >= o.lim.MaxEntries {
			return nil, inputErr(display, "archive has more than %d entries: refusing to read it", o.lim.MaxEntries)
		}
		if n%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		out[cleanName(h.Name)] = entry{size: h.Size, typ: h.Typeflag}
		if pos, err := f.Seek(0, io.SeekCurrent); err == nil {
			lastEnd = pos + (h.Size+511)&^511
		}
		last = h.Name
	}
}

func tarErr(display string, err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return inputErr(display, "image archive is truncated (unexpected end of file)")
	case errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrInsecurePath):
		return inputErr(display, "not a valid tar archive (docker save or OCI archive): %v", err)
	default:
		return inputErr(display, "read image archive: %v", err)
	}
}

func cleanName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(n, "\\", "/")), "/")
}

// openDockerArchive validates a docker save tarball by loading its one image.
func (o *opener) openDockerArchive(display, abs string, entries map[string]entry) (*Source, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(abs) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, inputErr(display, "docker archive: unreadable manifest.json: %v", err)
	}
	switch len(m) {
	case 0:
		return nil, inputErr(display, "docker archive: manifest.json lists no image")
	case 1:
	default:
		var tags []string
		for _, d := range m {
			tags = append(tags, strings.Join(d.RepoTags, ","))
		}
		return nil, inputErr(display, "docker archive holds %d images (%s): save one image per archive", len(m), strings.Join(tags, "; "))
	}
	d := m[0]
	for _, l := range append([]string{d.Config}, d.Layers...) {
		if !has(entries, cleanName(l)) {
			return nil, inputErr(display, "docker archive: %s is listed in manifest.json but missing from the archive", l)
		}
	}
	img, err := tarball.Image(opener, nil)
	if err != nil {
		return nil, inputErr(display, "docker archive: cannot load the image: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, inputErr(display, "docker archive: bad image config %s: %v", d.Config, err)
	}
	if len(cf.RootFS.DiffIDs) != len(d.Layers) {
		return nil, inputErr(display, "docker archive: config lists %d layers but manifest.json has %d", len(cf.RootFS.DiffIDs), len(d.Layers))
	}
	src := &Source{Kind: KindDockerArchive, Path: abs}
	if cf.OS != "" {
		src.Platform = platformString(cf.OS, cf.Architecture, cf.Variant)
	}
	return src, nil
}

func (o *opener) mkWork(pattern string) (string, error) {
	wd := o.workDir
	if wd == "" {
		wd = os.TempDir()
	}
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return "", fmt.Errorf("image work dir: %w", err)
	}
	return os.MkdirTemp(wd, pattern)
}

// gunzip decompresses a gzipped archive into the work dir, bounded by MaxExtractBytes.
func (o *opener) gunzip(ctx context.Context, display, abs string) (string, error) {
	f, err := os.Open(abs)
	if err != nil {
		return "", inputErr(display, "read image archive: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", inputErr(display, "corrupt gzip archive: %v", err)
	}
	dir, err := o.mkWork("gunzip-*")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "image.tar")
	w, err := os.Create(out)
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("decompress %s: %w", display, err)
	}
	n, err := io.Copy(w, &ctxReader{ctx: ctx, r: io.LimitReader(zr, o.lim.MaxExtractBytes+1)})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case err != nil && (errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF)):
		err = inputErr(display, "corrupt or truncated gzip archive: %v", err)
	case err != nil:
		err = fmt.Errorf("decompress %s: %w", display, err)
	case n > o.lim.MaxExtractBytes:
		err = inputErr(display, "decompresses to more than %d bytes: refusing", o.lim.MaxExtractBytes)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return out, nil
}

// blobName is the only shape of path an OCI layout needs besides its two metadata files, so
// matching it rules out path traversal by construction.
var blobName = regexp.MustCompile(`^blobs/(sha256|sha512)/([a-f0-9]{64}|[a-f0-9]{128})$`)

// extractOCI unpacks an OCI archive into a fresh directory under the work dir. Only oci-layout,
// index.json and well-formed blob paths are written; each blob is checked against its digest
// while it is copied, so a corrupt layer is bad input here rather than a tool crash later.
func (o *opener) extractOCI(ctx context.Context, display, abs string) (string, error) {
	f, err := os.Open(abs)
	if err != nil {
		return "", inputErr(display, "read image archive: %w", err)
	}
	defer f.Close()
	dir, err := o.mkWork("oci-*")
	if err != nil {
		return "", err
	}
	if err := o.extractInto(ctx, display, tar.NewReader(f), dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func (o *opener) extractInto(ctx context.Context, display string, tr *tar.Reader, dir string) error {
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return tarErr(display, err)
		}
		if n >= o.lim.MaxEntries {
			return inputErr(display, "archive has more than %d entries: refusing to extract it", o.lim.MaxEntries)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name := cleanName(h.Name)
		m := blobName.FindStringSubmatch(name)
		if name != "oci-layout" && name != "index.json" && m == nil {
			continue // directories, manifest.json of hybrid archives, stray files: not needed
		}
		if h.Typeflag != tar.TypeReg {
			return inputErr(display, "%s in the archive is not a regular file (links are not supported)", name)
		}
		if h.Size < 0 || total+h.Size > o.lim.MaxExtractBytes {
			return inputErr(display, "archive content exceeds %d bytes: refusing to extract it", o.lim.MaxExtractBytes)
		}
		total += h.Size
		var hs hash.Hash
		if m != nil {
			if m[1] == "sha256" {
				hs = sha256.New()
			} else {
				hs = sha512.New()
			}
		}
		if err := writeEntry(ctx, filepath.Join(dir, filepath.FromSlash(name)), tr, h.Size, hs); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return tarErr(display, err)
			}
			return fmt.Errorf("extract %s from %s: %w", name, display, err)
		}
		if hs != nil && hex.EncodeToString(hs.Sum(nil)) != m[2] {
			return inputErr(display, "blob %s is corrupt: its content does not match its digest", name)
		}
	}
}

func writeEntry(ctx context.Context, dst string, r io.Reader, size int64, hs hash.Hash) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// O_EXCL: a duplicate entry must not overwrite what was already checked.
	w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	var dstW io.Writer = w
	if hs != nil {
		dstW = io.MultiWriter(w, hs)
	}
	n, err := io.Copy(dstW, &ctxReader{ctx: ctx, r: io.LimitReader(r, size)})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// ctxReader stops long copies when the run is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
