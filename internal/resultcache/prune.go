package resultcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// PruneStats says what a prune found and removed.
type PruneStats struct {
	Entries, Removed int
	Bytes, Freed     int64
}

// staleMemo is how long a memoised file digest is kept: memos of deleted or rewritten files are
// never hit again, and a live one is cheap to recompute.
const staleMemo = 30 * 24 * time.Hour

// stale temp and trash dirs are left by killed runs.
const staleTemp = time.Hour

type entryInfo struct {
	dir  string
	size int64
	used time.Time
}

// Prune removes the least recently used entries until the entries take at most maxSize bytes
// (0 removes every entry; a negative size removes none and only counts), plus leftovers of
// killed runs and old digest memos.
func (c *Cache) Prune(maxSize int64) (PruneStats, error) {
	var st PruneStats
	var list []entryInfo
	root := filepath.Join(c.dir, entriesDir)
	shards, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	for _, sh := range shards {
		keys, err := os.ReadDir(filepath.Join(root, sh.Name()))
		if err != nil {
			continue
		}
		for _, k := range keys {
			dir := filepath.Join(root, sh.Name(), k.Name())
			e := entryInfo{dir: dir, size: dirSize(dir)}
			if fi, err := os.Stat(filepath.Join(dir, entryFile)); err == nil {
				e.used = fi.ModTime()
			}
			list = append(list, e)
			st.Bytes += e.size
		}
	}
	st.Entries = len(list)
	// Oldest use first; an entry without entry.json (damaged) counts as never used.
	sort.Slice(list, func(i, j int) bool { return list[i].used.Before(list[j].used) })
	total := st.Bytes
	for _, e := range list {
		if maxSize < 0 || (maxSize > 0 && total <= maxSize) {
			break
		}
		c.discard(e.dir)
		total -= e.size
		st.Removed++
		st.Freed += e.size
	}
	now := c.now()
	if err := os.MkdirAll(c.dir, 0o755); err == nil {
		_ = writeAtomic(filepath.Join(c.dir, usageFile), []byte(fmt.Sprintf("%d %d\n", total, now.Unix())))
	}
	for _, d := range []string{tmpDir, trashDir} {
		removeOlder(filepath.Join(c.dir, d), now.Add(-staleTemp), false)
	}
	removeOlder(filepath.Join(c.dir, digestsDir), now.Add(-staleMemo), true)
	return st, nil
}

// removeOlder removes the children of dir last modified before cutoff (with recurse, the files
// one level further down: the digest memo is sharded).
func removeOlder(dir string, cutoff time.Time, recurse bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if recurse && e.IsDir() {
			removeOlder(p, cutoff, false)
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
			os.RemoveAll(p)
		}
	}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
