package resultcache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// memoMinSize is the size from which a file's digest is memoised: hashing a small file costs
// less than looking up its memo.
const memoMinSize = 1 << 20

// A file modified very recently may change again within the same timestamp, so its digest is
// not memoised (git's "racy clean" problem). How recent depends on the file system's clock: one
// that keeps nanoseconds (a modification time with a fraction of a second) tells two writes apart
// within milliseconds; one that keeps seconds (or two, like FAT) does not.
func racy(mod time.Time) bool {
	window := 2 * time.Second
	if mod.Nanosecond() != 0 {
		window = 100 * time.Millisecond
	}
	return time.Since(mod) <= window
}

// memo remembers the SHA-256 of big files (image archives, Tollgate's own executable) by their
// identity — path, device, inode, size, modification and change times — so a warm run stats
// them instead of reading hundreds of megabytes. Any write to a file changes its change time,
// so a stale memo cannot be hit. A nil memo hashes every time.
type memo struct {
	dir string
	// inflight dedupes concurrent hashing of one file version: sbom and scan key the same image
	// at the same moment. Shared by every key of a Cache.
	inflight *sync.Map // file identity -> *pending
}

type pending struct {
	once   sync.Once
	digest string
	err    error
}

// fileDigest returns "sha256:<hex>" of the file's content.
func (m *memo) fileDigest(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	id, ok := identity(path, fi)
	if m == nil || fi.Size() < memoMinSize || !ok {
		return hashFile(path)
	}
	memoFile := filepath.Join(m.dir, id[:2], id)
	if b, err := os.ReadFile(memoFile); err == nil {
		if d := strings.TrimSpace(string(b)); strings.HasPrefix(d, "sha256:") && len(d) == len("sha256:")+64 {
			return d, nil
		}
	}
	if m.inflight != nil {
		v, _ := m.inflight.LoadOrStore(id, &pending{})
		p := v.(*pending)
		p.once.Do(func() { p.digest, p.err = m.hashAndRemember(path, memoFile, id, fi) })
		return p.digest, p.err
	}
	return m.hashAndRemember(path, memoFile, id, fi)
}

// hashAndRemember hashes a file and memoises the digest unless the file is too fresh to trust
// its timestamps or changed while it was read.
func (m *memo) hashAndRemember(path, memoFile, id string, fi os.FileInfo) (string, error) {
	d, err := hashFile(path)
	if err != nil {
		return "", err
	}
	if !racy(fi.ModTime()) {
		if after, err := os.Stat(path); err == nil {
			if id2, ok := identity(path, after); ok && id2 == id {
				_ = writeAtomic(memoFile, []byte(d+"\n"))
			}
		}
	}
	return d, nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// writeAtomic writes a small file through a temp file and a rename.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	if err := f.Close(); werr != nil || err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %v %v", path, werr, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// treeDigest is the digest of a walked tree: every entry's relative path and kind, and every
// file's content. It is memoised by the identities of all the files (see fileDigest), so a tree of
// thousands of small files (a schema set) costs a walk and a stat per file on a warm run.
func (m *memo) treeDigest(entries []treeEntry) (string, error) {
	ids := sha256.New()
	memoable := m != nil
	for _, e := range entries {
		fmt.Fprintf(ids, "%s\x00%s\x00", e.rel, e.kind)
		if e.kind != "file" || !memoable {
			continue
		}
		id, ok := identity(e.path, e.info)
		if !ok || racy(e.info.ModTime()) {
			memoable = false
			continue
		}
		fmt.Fprintf(ids, "%s\n", id)
	}
	var memoFile string
	if memoable {
		id := hex.EncodeToString(ids.Sum(nil))
		memoFile = filepath.Join(m.dir, id[:2], "tree-"+id)
		if b, err := os.ReadFile(memoFile); err == nil {
			if d := strings.TrimSpace(string(b)); len(d) == 64 {
				return d, nil
			}
		}
	}
	h := sha256.New()
	for _, e := range entries {
		d := e.kind
		if e.kind == "file" {
			var err error
			if d, err = m.fileDigest(e.path); err != nil {
				return "", err
			}
		}
		fmt.Fprintf(h, "%s\x00%s\n", e.rel, d)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if memoFile != "" {
		_ = writeAtomic(memoFile, []byte(sum+"\n"))
	}
	return sum, nil
}
