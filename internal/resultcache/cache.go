// Package resultcache stores stages' raw results (before the gate) under the tool cache dir,
// addressed by a key that covers everything a result depends on: the stage, the tool's build,
// Tollgate's own build, the effective stage config and the digests of every input. A warm re-run
// of an unchanged project reads results instead of running tools; the gate is applied to a
// cached result at read time, so threshold changes and ignore expiry take effect without a rerun.
//
// Entries are written to a temp dir and renamed into place, so concurrent runs never see half an
// entry; anything unreadable, truncated or inconsistent is a miss (and is moved aside), never a
// crash and never a pass. A size cap evicts the least recently used entries.
package resultcache

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// DefaultMaxSize bounds the cache when cache.max-size is not set.
const DefaultMaxSize int64 = 500 << 20

// formatVersion is the entry format; entries of another format are misses.
const formatVersion = 1

// Sub-directories of the cache dir.
const (
	entriesDir = "entries" // entries/<key[:2]>/<key>/{entry.json,files/...}
	tmpDir     = "tmp"     // entries being written
	trashDir   = "trash"   // entries being removed
	digestsDir = "digests" // memoised file digests, by file identity (see digest.go)
	entryFile  = "entry.json"
	filesDir   = "files"
)

// Cache is a result cache rooted at a directory (normally <tool cache>/results).
type Cache struct {
	dir     string
	maxSize int64
	refresh bool
	now     func() time.Time

	// self is the digest of Tollgate's own executable, computed once per process however many
	// stages ask at once.
	selfOnce sync.Once
	self     string
	selfErr  error
	// inflight dedupes concurrent hashing of one big file (see memo).
	inflight sync.Map
}

// Options tune a cache.
type Options struct {
	// MaxSize caps the bytes the entries may take; the least recently used go first. Zero means
	// DefaultMaxSize; a negative value means no cap.
	MaxSize int64
	// Refresh never reads entries (every stage reruns) but still stores fresh results:
	// `--no-cache`.
	Refresh bool
	// Now is the clock for last-use times (default time.Now).
	Now func() time.Time
}

// New returns the cache rooted at dir. Nothing is created until the first write.
func New(dir string, o Options) *Cache {
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Cache{dir: dir, maxSize: o.MaxSize, refresh: o.Refresh, now: o.Now}
}

// Dir is the cache's root directory.
func (c *Cache) Dir() string { return c.dir }

// Dir is where results live under a tool cache dir.
func Dir(toolCacheDir string) string { return filepath.Join(toolCacheDir, "results") }

// entry is entry.json.
type entry struct {
	Format  int       `json:"format"`
	Key     string    `json:"key"`
	Stage   string    `json:"stage"`
	Created time.Time `json:"created"`
	// Parts name what the key covers and their digests (never values: a key may cover secrets'
	// files), so `tollgate cache` users and tests can see why two keys differ.
	Parts        []Part          `json:"parts"`
	Result       json.RawMessage `json:"result"`
	ResultSHA256 string          `json:"result_sha256"`
	Files        []storedFile    `json:"files,omitempty"`
}

// storedFile is an artifact kept with an entry: its path relative to the run's --out dir.
type storedFile struct {
	Rel    string `json:"rel"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Artifact is the index of the result artifact this file belongs to.
	Artifact int `json:"artifact"`
}

func (c *Cache) entryPath(key string) string {
	return filepath.Join(c.dir, entriesDir, key[:2], key)
}

func validKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	_, err := hex.DecodeString(key)
	return err == nil
}

// Get returns the raw result stored under key, with its artifacts copied into outDir (paths
// rewritten to there), and marks the entry used. Any problem with the entry is a miss; a
// damaged entry is moved aside so the next run can store a good one. The result has
// Cached set and no gate decision yet.
func (c *Cache) Get(k *Key, outDir string) (*model.StageResult, bool) {
	if c == nil || c.refresh || k == nil || !k.Cacheable() {
		return nil, false
	}
	key := k.Sum()
	dir := c.entryPath(key)
	b, err := os.ReadFile(filepath.Join(dir, entryFile))
	if err != nil {
		return nil, false
	}
	r, e, err := decodeEntry(b, key)
	if err != nil {
		c.discard(dir)
		return nil, false
	}
	if len(e.Files) > 0 && outDir == "" {
		return nil, false // cannot happen with keys made by stages (they cover "writes artifacts")
	}
	for _, f := range e.Files {
		dst := filepath.Join(outDir, filepath.FromSlash(f.Rel))
		if err := copyVerified(filepath.Join(dir, filesDir, filepath.FromSlash(f.Rel)), dst, f.SHA256); err != nil {
			if !errors.Is(err, errOutput) {
				c.discard(dir)
			}
			return nil, false
		}
		r.Artifacts[f.Artifact].Path = dst
	}
	now := c.now()
	_ = os.Chtimes(filepath.Join(dir, entryFile), now, now) // last use, for eviction
	r.Cached = true
	return r, true
}

// decodeEntry checks an entry against the key it was looked up by.
func decodeEntry(b []byte, key string) (*model.StageResult, *entry, error) {
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, nil, err
	}
	if e.Format != formatVersion || e.Key != key || len(e.Result) == 0 {
		return nil, nil, errors.New("entry does not match")
	}
	if sum := sha256.Sum256(e.Result); hex.EncodeToString(sum[:]) != e.ResultSHA256 {
		return nil, nil, errors.New("result checksum mismatch")
	}
	var r model.StageResult
	if err := json.Unmarshal(e.Result, &r); err != nil {
		return nil, nil, err
	}
	if r.Stage != e.Stage || r.Status == model.StatusError || r.Status == model.StatusSkipped {
		return nil, nil, errors.New("entry holds no storable result")
	}
	for _, f := range e.Files {
		if f.Artifact < 0 || f.Artifact >= len(r.Artifacts) || !localRel(f.Rel) {
			return nil, nil, errors.New("entry files do not match its artifacts")
		}
	}
	if r.Findings == nil {
		r.Findings = []model.Finding{}
	}
	return &r, &e, nil
}

// localRel is a relative slash path that stays inside its base.
func localRel(rel string) bool {
	return rel != "" && filepath.IsLocal(filepath.FromSlash(rel)) && !strings.Contains(rel, "\\")
}

// errOutput marks a failure writing into the run's output dir (not the entry's fault).
var errOutput = errors.New("write output")

// copyVerified copies src to dst through a temp file and a rename, checking the content's digest.
func copyVerified(src, dst, want string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("%w: %v", errOutput, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+"-*")
	if err != nil {
		return fmt.Errorf("%w: %v", errOutput, err)
	}
	h := sha256.New()
	_, cerr := io.Copy(io.MultiWriter(tmp, h), in)
	if err := errors.Join(cerr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != want {
		os.Remove(tmp.Name())
		return errors.New("stored file checksum mismatch")
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("%w: %v", errOutput, err)
	}
	return nil
}

// Storable reports whether a raw result may be cached: only complete results. Tool errors,
// input errors and skipped stages are never stored.
func Storable(r *model.StageResult) bool {
	return r != nil && r.Status != model.StatusError && r.Status != model.StatusSkipped
}

// Put stores the raw result r (before the gate) under k, with the artifacts it wrote into outDir.
// A result whose artifacts are not files under outDir is not stored. Put writes the entry under a
// temp name and renames it into place, so readers see all of it or nothing; when an entry for
// the key already exists, the existing one wins unless the cache refreshes (--no-cache). It then
// enforces the size cap.
func (c *Cache) Put(k *Key, r *model.StageResult, outDir string) error {
	if c == nil || k == nil || !k.Cacheable() || !Storable(r) {
		return nil
	}
	key := k.Sum()
	stored := *r // a shallow copy: only top-level fields change
	stored.Cached, stored.Duration = false, 0
	raw, err := json.Marshal(&stored)
	if err != nil {
		return fmt.Errorf("result cache: encode %s result: %w", r.Stage, err)
	}
	if err := os.MkdirAll(filepath.Join(c.dir, tmpDir), 0o755); err != nil {
		return fmt.Errorf("result cache: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Join(c.dir, tmpDir), key[:12]+"-*")
	if err != nil {
		return fmt.Errorf("result cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	sum := sha256.Sum256(raw)
	e := entry{Format: formatVersion, Key: key, Stage: r.Stage, Created: c.now().UTC(), Parts: k.Parts(),
		Result: raw, ResultSHA256: hex.EncodeToString(sum[:])}
	for i, a := range r.Artifacts {
		rel, ok := relUnder(outDir, a.Path)
		if !ok {
			return nil // an artifact outside --out cannot be restored: do not cache
		}
		digest, size, err := copyIn(a.Path, filepath.Join(tmp, filesDir, filepath.FromSlash(rel)))
		if err != nil {
			return nil // an artifact the stage reported but that is not there: do not cache
		}
		e.Files = append(e.Files, storedFile{Rel: rel, SHA256: digest, Size: size, Artifact: i})
	}
	b, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("result cache: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, entryFile), b, 0o644); err != nil {
		return fmt.Errorf("result cache: %w", err)
	}
	final := c.entryPath(key)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return fmt.Errorf("result cache: %w", err)
	}
	if c.refresh {
		c.discard(final)
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, statErr := os.Stat(filepath.Join(final, entryFile)); statErr == nil {
			return nil // another run stored the same key meanwhile: same inputs, same result
		}
		// A damaged leftover without entry.json: move it aside and try once more.
		c.discard(final)
		if err := os.Rename(tmp, final); err != nil {
			if _, statErr := os.Stat(filepath.Join(final, entryFile)); statErr == nil {
				return nil
			}
			return fmt.Errorf("result cache: store %s: %w", r.Stage, err)
		}
	}
	if c.maxSize > 0 {
		size := int64(len(b))
		for _, f := range e.Files {
			size += f.Size
		}
		if err := c.account(size); err != nil {
			return err
		}
	}
	return nil
}

// usageFile keeps the entries' total size between runs ("<bytes> <unix time of the last full
// count>"), so a store does not walk every entry; a full count (a prune) runs when the total
// passes the cap, or when the last one is an hour old (concurrent runs may lose an update).
const usageFile = "usage"

// account adds a new entry's size to the recorded total and prunes when it passes the cap.
func (c *Cache) account(size int64) error {
	var total, at int64
	b, err := os.ReadFile(filepath.Join(c.dir, usageFile))
	if err == nil {
		_, err = fmt.Sscanf(string(b), "%d %d", &total, &at)
	}
	switch {
	case total+size > c.maxSize:
		// Down to 90%, so the next stores do not each walk the cache again.
		_, err := c.Prune(c.maxSize / 10 * 9)
		return err
	case err != nil || c.now().Sub(time.Unix(at, 0)) > time.Hour:
		_, err := c.Prune(c.maxSize)
		return err
	}
	return writeAtomic(filepath.Join(c.dir, usageFile), []byte(fmt.Sprintf("%d %d\n", total+size, at)))
}

// relUnder returns p relative to outDir (slash form) when it lies inside it.
func relUnder(outDir, p string) (string, bool) {
	if outDir == "" || p == "" {
		return "", false
	}
	base, err1 := filepath.Abs(outDir)
	abs, err2 := filepath.Abs(p)
	if err1 != nil || err2 != nil {
		return "", false
	}
	rel, err := filepath.Rel(base, abs)
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// copyIn copies an artifact into an entry being written and returns its digest and size.
func copyIn(src, dst string) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", 0, err
	}
	out, err := os.Create(dst)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, cerr := io.Copy(io.MultiWriter(out, h), in)
	if err := errors.Join(cerr, out.Close()); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// discard moves an entry out of the way (rename is atomic for concurrent readers) and removes it.
func (c *Cache) discard(dir string) {
	if err := os.MkdirAll(filepath.Join(c.dir, trashDir), 0o755); err != nil {
		return
	}
	dst := filepath.Join(c.dir, trashDir, filepath.Base(dir)+"-"+randomSuffix())
	if err := os.Rename(dir, dst); err != nil {
		return
	}
	os.RemoveAll(dst)
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Lookup is what the cache knows about a key without restoring anything (for tests and
// `tollgate cache` output): whether an entry exists and the parts it was stored with.
func (c *Cache) Lookup(key string) ([]Part, bool) {
	if !validKey(key) {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(c.entryPath(key), entryFile))
	if err != nil {
		return nil, false
	}
	var e entry
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&e); err != nil || e.Key != key {
		return nil, false
	}
	return e.Parts, true
}
