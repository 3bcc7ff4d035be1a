package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// pathLists are the keys of tollgate.yaml that list paths; each entry may be a glob.
func (c *Config) pathLists() map[string]*[]string {
	return map[string]*[]string{
		"lint.dockerfiles":          &c.Lint.Dockerfiles,
		"validate.paths":            &c.Validate.Paths,
		"validate.crds":             &c.Validate.CRDs,
		"validate.schema-locations": &c.Validate.SchemaLocations,
		"score.paths":               &c.Score.Paths,
		"scan.vex":                  &c.Scan.VEX,
	}
}

// IsGlob reports whether a path has glob syntax (*, ?, [...], {a,b}; ** crosses directories).
func IsGlob(p string) bool { return strings.ContainsAny(p, "*?[{") }

// ExpandGlobs replaces each glob in tollgate.yaml's path lists (lint.dockerfiles,
// validate.paths, validate.crds, local validate.schema-locations, score.paths, scan.vex) with
// the paths it matches under root, sorted. A glob that matches nothing is an error naming its
// line in the file: the user named it, unlike a default that may be absent. Literal paths are
// left for the stages, which report a missing one. Call it before command-line flags apply.
func (c *Config) ExpandGlobs(root string) error {
	lists := c.pathLists()
	keys := make([]string, 0, len(lists))
	for k := range lists {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		list := lists[key]
		var out []string
		changed := false
		for i, p := range *list {
			if !IsGlob(p) || strings.Contains(p, "://") || strings.Contains(p, "{{") {
				out = append(out, p)
				continue
			}
			changed = true
			matches, err := Glob(root, p)
			where := c.lines[fmt.Sprintf("%s[%d]", key, i)]
			if err != nil {
				return &model.InputError{File: c.Path, Line: where, Err: fmt.Errorf("%s: %q is not a valid glob: %v", key, p, err)}
			}
			if len(matches) == 0 {
				return &model.InputError{File: c.Path, Line: where, Err: fmt.Errorf("%s: %q matches no file under %s", key, p, displayRoot(root))}
			}
			out = append(out, matches...)
		}
		if changed {
			*list = dedupe(out)
		}
	}
	return nil
}

// Glob returns the paths under root that pattern matches (slash-separated, ** for any number
// of directories), relative to root unless the pattern is absolute, sorted.
func Glob(root, pattern string) ([]string, error) {
	if !doublestar.ValidatePattern(filepath.ToSlash(pattern)) {
		return nil, doublestar.ErrBadPattern
	}
	if filepath.IsAbs(pattern) {
		m, err := doublestar.FilepathGlob(pattern)
		sort.Strings(m)
		return m, err
	}
	pat := strings.TrimPrefix(filepath.ToSlash(pattern), "./")
	m, err := doublestar.Glob(os.DirFS(root), pat)
	sort.Strings(m)
	return m, err
}

func dedupe(ps []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func displayRoot(root string) string {
	if root == "" || root == "." {
		return "the project directory"
	}
	return root
}

// recordListLines keeps the line of each entry of the path lists, for glob errors.
func recordListLines(root *yaml.Node, c *Config) {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return
	}
	c.lines = map[string]int{}
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		section, body := top.Content[i].Value, top.Content[i+1]
		if body.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(body.Content); j += 2 {
			key, list := section+"."+body.Content[j].Value, body.Content[j+1]
			if list.Kind != yaml.SequenceNode {
				continue
			}
			for k, e := range list.Content {
				c.lines[fmt.Sprintf("%s[%d]", key, k)] = e.Line
			}
		}
	}
}
