package resultcache

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Part is one component of a key: a name and the digest of its value.
type Part struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Key collects what a stage's result depends on. Stages build one in their CacheKey function;
// every method records a part. A key that cannot cover something the result depends on (a
// schema fetched from a URL, a tool that is not installed yet) is marked not cacheable, and the
// stage simply runs. Key also remembers which project files and directories it read, so
// `tollgate run --changed` can tell whether a stage's inputs changed.
type Key struct {
	parts   []Part
	files   []string // absolute paths of files read
	trees   []string // absolute paths of directories walked
	reason  string   // why the key is not cacheable ("" when it is)
	pending bool     // reason is something the stage prepares itself (see Pending)
	// external is set when the result depends on inputs git cannot see (an image): such a stage
	// is checked by its key on every run, never skipped as unchanged.
	external bool
	memo     *memo
}

// NewKey starts a key for stage. It covers the entry format and Tollgate's own executable
// (every stage's result passes through Tollgate's parsers and rules). A nil cache gives a key
// without memoised digests.
func (c *Cache) NewKey(stage string) *Key {
	k := &Key{}
	if c != nil {
		k.memo = &memo{dir: filepath.Join(c.dir, digestsDir), inflight: &c.inflight}
	}
	k.add("format", fmt.Sprint(formatVersion))
	k.add("stage", stage)
	var d string
	var err error
	if c != nil {
		c.selfOnce.Do(func() { c.self, c.selfErr = selfDigest(k.memo) })
		d, err = c.self, c.selfErr
	} else {
		d, err = selfDigest(nil)
	}
	if err != nil {
		k.NotCacheable(err.Error())
		return k
	}
	k.parts = append(k.parts, Part{Name: "tollgate", Digest: d})
	return k
}

// selfDigest is the SHA-256 of the running executable.
func selfDigest(m *memo) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find Tollgate's own executable: %w", err)
	}
	d, err := m.fileDigest(self)
	if err != nil {
		return "", fmt.Errorf("cannot read Tollgate's own executable: %w", err)
	}
	return d, nil
}

func digestString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (k *Key) add(name, value string) {
	k.parts = append(k.parts, Part{Name: name, Digest: digestString(value)})
}

// String adds a plain value.
func (k *Key) String(name, value string) { k.add(name, value) }

// Value adds a value as canonical JSON (struct fields in declaration order, map keys sorted).
func (k *Key) Value(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		k.NotCacheable(fmt.Sprintf("cannot encode %s: %v", name, err))
		return
	}
	k.add(name, string(b))
}

// NotCacheable marks the key as unusable, with the reason (shown in progress output).
func (k *Key) NotCacheable(reason string) {
	if k.reason == "" {
		k.reason = reason
	}
}

// Data adds tool data the stage reads from outside the project — schemas, a vulnerability DB, a
// tool's config in the home directory — by content like File or Tree (a directory), without
// counting it as a project input for `--changed` (git has nothing to say about it; its content
// is in the key).
func (k *Key) Data(name, path string) {
	nf, nt := len(k.files), len(k.trees)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		k.Tree(name, path, nil)
	} else {
		k.File(name, path)
	}
	k.files, k.trees = k.files[:nf], k.trees[:nt]
}

// Pending marks the key as not cacheable yet because something the stage prepares itself is
// missing (a tool to install, schemas to build, a vulnerability DB to download): the result of
// this run may still be stored, under the key computed after the run.
func (k *Key) Pending(reason string) {
	if k.reason == "" {
		k.reason, k.pending = reason, true
	}
}

// IsPending reports whether the key is only waiting for the stage to prepare its tools or data.
func (k *Key) IsPending() bool { return k != nil && k.pending && k.reason != "" }

// External marks the result as depending on inputs outside the project's files (an image).
func (k *Key) External() { k.external = true }

// IsExternal reports whether External was called.
func (k *Key) IsExternal() bool { return k.external }

// Cacheable reports whether the key covers everything; Reason says why not.
func (k *Key) Cacheable() bool { return k != nil && k.reason == "" }

// Reason is why the key is not cacheable.
func (k *Key) Reason() string { return k.reason }

// Parts lists the key's components in order.
func (k *Key) Parts() []Part { return append([]Part(nil), k.parts...) }

// Files are the files the key read; Trees the directories it walked (absolute paths).
func (k *Key) Files() []string { return append([]string(nil), k.files...) }

// Trees are the directories the key walked (absolute paths).
func (k *Key) Trees() []string { return append([]string(nil), k.trees...) }

// Sum is the key: the SHA-256 of its parts, in order.
func (k *Key) Sum() string {
	h := sha256.New()
	for _, p := range k.parts {
		fmt.Fprintf(h, "%d:%s=%s\n", len(p.Name), p.Name, p.Digest)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// File adds a file's content (or its absence: an optional file appearing must change the key).
// path must be absolute or relative to the working directory.
func (k *Key) File(name, path string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		k.NotCacheable(err.Error())
		return
	}
	k.files = append(k.files, abs)
	fi, err := os.Stat(abs)
	switch {
	case err != nil && os.IsNotExist(err):
		k.add(name, "absent")
		return
	case err != nil:
		k.NotCacheable(fmt.Sprintf("%s: %v", name, err))
		return
	case fi.IsDir():
		k.add(name, "directory")
		return
	}
	d, err := k.memo.fileDigest(abs)
	if err != nil {
		k.NotCacheable(fmt.Sprintf("%s: %v", name, err))
		return
	}
	k.parts = append(k.parts, Part{Name: name, Digest: d})
}

// DataVersion adds a big data file by its identity (device, inode, size, modification and change
// times) instead of its content, where the file system offers one: any rewrite or replacement
// changes it. It suits files of hundreds of megabytes that change only by being replaced (a
// vulnerability DB); elsewhere it falls back to the content. Like Data, it is not a project
// input for `--changed`.
func (k *Key) DataVersion(name, path string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		k.NotCacheable(err.Error())
		return
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if os.IsNotExist(err) {
			k.add(name, "absent")
			return
		}
		k.NotCacheable(fmt.Sprintf("%s: %v", name, err))
		return
	}
	if id, ok := identity(abs, fi); ok {
		k.parts = append(k.parts, Part{Name: name, Digest: "stat:" + id})
		return
	}
	k.Data(name, abs)
}

// Tree adds every regular file under dir (names relative to dir and contents), in a stable order.
// skip, when set, leaves out entries by their slash path relative to dir (a skipped directory
// is not entered). Symbolic links are followed. A missing dir is recorded as absent.
func (k *Key) Tree(name, dir string, skip func(rel string, d fs.DirEntry) bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		k.NotCacheable(err.Error())
		return
	}
	k.trees = append(k.trees, abs)
	fi, err := os.Stat(abs)
	switch {
	case err != nil && os.IsNotExist(err):
		k.add(name, "absent")
		return
	case err != nil:
		k.NotCacheable(fmt.Sprintf("%s: %v", name, err))
		return
	case !fi.IsDir():
		k.File(name, abs)
		return
	}
	var entries []treeEntry
	if err := walkTree(abs, "", skip, &entries, 0); err != nil {
		k.NotCacheable(fmt.Sprintf("%s: %v", name, err))
		return
	}
	for _, e := range entries {
		if e.kind == "file" {
			k.files = append(k.files, e.path)
		}
	}
	d, err := k.memo.treeDigest(entries)
	if err != nil {
		k.NotCacheable(fmt.Sprintf("%s: %v", name, err))
		return
	}
	k.parts = append(k.parts, Part{Name: name, Digest: d})
}

// maxLinkDepth stops a walk in a symlink loop.
const maxLinkDepth = 40

// treeEntry is one entry of a walked tree: a regular file, a directory, a dangling link or
// something else (a socket, a device).
type treeEntry struct {
	rel, path string
	kind      string // file, dir, dangling, special:<mode>
	info      os.FileInfo
}

// walkTree lists dir's entries in a stable order, following symbolic links like the tools that
// read the tree.
func walkTree(dir, prefix string, skip func(string, fs.DirEntry) bool, out *[]treeEntry, depth int) error {
	if depth > maxLinkDepth {
		return fmt.Errorf("%s: directories nested too deep (a symlink loop?)", dir)
	}
	list, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
	for _, e := range list {
		rel := prefix + e.Name()
		if skip != nil && skip(rel, e) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		switch {
		case err != nil && os.IsNotExist(err):
			*out = append(*out, treeEntry{rel: rel, path: p, kind: "dangling"})
		case err != nil:
			return err
		case fi.IsDir():
			*out = append(*out, treeEntry{rel: rel + "/", path: p, kind: "dir"})
			if err := walkTree(p, rel+"/", skip, out, depth+1); err != nil {
				return err
			}
		case !fi.Mode().IsRegular():
			*out = append(*out, treeEntry{rel: rel, path: p, kind: "special:" + fi.Mode().Type().String()})
		default:
			*out = append(*out, treeEntry{rel: rel, path: p, kind: "file", info: fi})
		}
	}
	return nil
}

// SkipHidden leaves out entries whose name starts with "." (.git, editor files), as the
// manifest reader does.
func SkipHidden(rel string, d fs.DirEntry) bool { return strings.HasPrefix(d.Name(), ".") }

// Tool adds a pinned tool's build: its module version, Go version, dependencies and build
// settings, read from the Go build info of the installed binary. A tool that is not installed
// (or does not match its pin) makes the key not cacheable: the stage installs or rejects it.
func (k *Key) Tool(in *tools.Installer, name string) {
	t, err := tools.Get(name)
	if err != nil || in == nil {
		k.NotCacheable(fmt.Sprintf("tool %s unknown", name))
		return
	}
	st := in.Check(t)
	if !st.Installed {
		k.Pending(fmt.Sprintf("%s is not installed yet", name))
		return
	}
	bi, err := buildinfo.ReadFile(st.Path)
	if err != nil {
		k.NotCacheable(fmt.Sprintf("read build info of %s: %v", name, err))
		return
	}
	k.add("tool:"+name, bi.String())
}
