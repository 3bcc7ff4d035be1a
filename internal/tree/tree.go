// Package tree walks a project directory the way its owner expects a tool to: honouring the
// .gitignore files on the way down, and passing over hidden entries (.git, .github, editor
// files), vendored code (vendor/, node_modules/, third_party/) and Tollgate's own report
// directory. Discovery and the manifest walk share it, so both see the same files.
package tree

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// skippedDirs are directory names never walked: vendored dependencies and Tollgate's reports.
var skippedDirs = map[string]string{
	"vendor":           "vendored code",
	"node_modules":     "vendored code",
	"third_party":      "vendored code",
	"tollgate-reports": "Tollgate's reports",
}

// SkippedDir reports whether a directory name is never walked, and why.
func SkippedDir(name string) (string, bool) {
	if strings.HasPrefix(name, ".") && name != "." && name != ".." {
		return "hidden", true
	}
	why, ok := skippedDirs[name]
	return why, ok
}

// Entry is one file or directory met by Walk.
type Entry struct {
	Path  string // absolute path
	Rel   string // slash path relative to the walk's root
	IsDir bool
}

// SkipDir returned by Walk's callback for a directory skips its contents.
var SkipDir = fs.SkipDir

// Walk visits dir (absolute, at or under root) in lexical order: every directory (after
// dir itself) and every regular file, skipping what SkippedDir names, hidden files, symbolic
// links to directories, and what the .gitignore files from root down to each entry exclude.
func Walk(root, dir string, fn func(Entry) error) error {
	root, dir = filepath.Clean(root), filepath.Clean(dir)
	var pats []gitignore.Pattern
	// .gitignore files of the directories above dir (from root down) apply inside it too.
	if rel, err := filepath.Rel(root, dir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for i := 0; i < len(parts); i++ {
			pats = append(pats, readIgnore(filepath.Join(root, filepath.Join(parts[:i]...)), parts[:i])...)
		}
	} else if err != nil || strings.HasPrefix(rel, "..") {
		root = dir // outside the project: its own root
	}
	err := walk(root, dir, pats, fn)
	if errors.Is(err, fs.SkipAll) {
		return nil
	}
	return err
}

func walk(root, dir string, pats []gitignore.Pattern, fn func(Entry) error) error {
	relDir := rel(root, dir)
	var domain []string
	if relDir != "." {
		domain = strings.Split(relDir, "/")
	}
	pats = append(pats[:len(pats):len(pats)], readIgnore(dir, domain)...)
	m := gitignore.NewMatcher(pats)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(dir, name)
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			if err != nil || fi.IsDir() {
				continue // dangling, or a link to a directory (could loop)
			}
		} else if !isDir && !e.Type().IsRegular() {
			continue
		}
		if strings.HasPrefix(name, ".") {
			continue
		}
		if _, skip := skippedDirs[name]; skip && isDir {
			continue
		}
		r := rel(root, p)
		if m.Match(strings.Split(r, "/"), isDir) {
			continue
		}
		err := fn(Entry{Path: p, Rel: r, IsDir: isDir})
		if isDir {
			if errors.Is(err, fs.SkipDir) {
				continue
			}
			if err != nil {
				return err
			}
			if err := walk(root, p, pats, fn); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readIgnore reads dir/.gitignore; its patterns apply to paths under domain.
func readIgnore(dir string, domain []string) []gitignore.Pattern {
	b, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err != nil {
		return nil
	}
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}

// Ignored reports whether the file or directory at p (absolute, under root) is excluded by a
// .gitignore between root and p.
func Ignored(root, p string, isDir bool) bool {
	r := rel(filepath.Clean(root), filepath.Clean(p))
	if r == "." || strings.HasPrefix(r, "../") || r == ".." {
		return false
	}
	parts := strings.Split(r, "/")
	var pats []gitignore.Pattern
	for i := 0; i < len(parts); i++ {
		pats = append(pats, readIgnore(filepath.Join(root, filepath.Join(parts[:i]...)), parts[:i])...)
	}
	return gitignore.NewMatcher(pats).Match(parts, isDir)
}

func rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(r)
}
