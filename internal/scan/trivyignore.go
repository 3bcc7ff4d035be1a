package scan

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/vex"
	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// IgnoreRule is one vulnerability entry of a .trivyignore or .trivyignore.yaml file.
//
// Tollgate applies these itself instead of passing --ignorefile to trivy: trivy drops ignored
// findings from its report, while Tollgate keeps them, marked suppressed with their reason and
// expiry, so reports show what was accepted and an expired entry fails the gate again.
type IgnoreRule struct {
	ID      string
	Paths   []string // package paths or targets (globs); empty matches any
	PURLs   []string // package URLs; empty matches any
	Reason  string
	Expires time.Time // zero: never
	File    string
	Line    int
}

// ParseTrivyIgnore reads a .trivyignore (one ID per line, optional `exp:YYYY-MM-DD`, comments
// above an entry are its reason) or, when name ends in .yaml/.yml, trivy's YAML ignore file.
// Malformed content is a *model.InputError naming the file and line.
func ParseTrivyIgnore(name string, data []byte) ([]IgnoreRule, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return parseIgnoreYAML(name, data)
	}
	var rules []IgnoreRule
	var comment []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			comment = nil
			continue
		case strings.HasPrefix(line, "#"):
			comment = append(comment, strings.TrimSpace(strings.TrimPrefix(line, "#")))
			continue
		}
		reason := strings.Join(comment, " ")
		if before, inline, ok := strings.Cut(line, "#"); ok {
			line, reason = strings.TrimSpace(before), strings.TrimSpace(inline)
		}
		fields := strings.Fields(line)
		r := IgnoreRule{ID: fields[0], File: name, Line: n, Reason: reason}
		for _, f := range fields[1:] {
			v, ok := strings.CutPrefix(f, "exp:")
			if !ok {
				return nil, model.InputErrorf(name, n, "unexpected %q after %s (want exp:YYYY-MM-DD)", f, r.ID)
			}
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return nil, model.InputErrorf(name, n, "%s: expiry %q is not a date YYYY-MM-DD", r.ID, v)
			}
			r.Expires = t
		}
		if r.Reason == "" {
			r.Reason = "listed in " + filepath.Base(name)
		}
		rules = append(rules, r)
		comment = nil
	}
	if err := sc.Err(); err != nil {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("read ignore file: %w", err)}
	}
	return rules, nil
}

type ignoreYAML struct {
	Vulnerabilities []struct {
		ID        string   `yaml:"id"`
		Paths     []string `yaml:"paths"`
		PURLs     []string `yaml:"purls"`
		Statement string   `yaml:"statement"`
		ExpiredAt string   `yaml:"expired_at"`
		Line      int      `yaml:"-"`
	} `yaml:"vulnerabilities"`
}

func parseIgnoreYAML(name string, data []byte) ([]IgnoreRule, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("invalid YAML: %w", err)}
	}
	var doc ignoreYAML
	if err := root.Decode(&doc); err != nil {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("invalid ignore file: %w", err)}
	}
	lines := vulnLines(&root)
	var rules []IgnoreRule
	for i, v := range doc.Vulnerabilities {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		if v.ID == "" {
			return nil, model.InputErrorf(name, line, "vulnerability entry needs an id")
		}
		r := IgnoreRule{ID: v.ID, Paths: v.Paths, PURLs: v.PURLs, Reason: v.Statement, File: name, Line: line}
		if v.ExpiredAt != "" {
			t, err := time.Parse("2006-01-02", v.ExpiredAt)
			if err != nil {
				return nil, model.InputErrorf(name, line, "%s: expired_at %q is not a date YYYY-MM-DD", v.ID, v.ExpiredAt)
			}
			r.Expires = t
		}
		if r.Reason == "" {
			r.Reason = "listed in " + filepath.Base(name)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func vulnLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "vulnerabilities" {
			var out []int
			for _, item := range m.Content[i+1].Content {
				out = append(out, item.Line)
			}
			return out
		}
	}
	return nil
}

// matches reports whether the rule covers the finding (ID, then optional path and purl filters).
func (r IgnoreRule) matches(f *model.Finding) bool {
	if !strings.EqualFold(r.ID, f.RuleID) {
		return false
	}
	if len(r.Paths) > 0 {
		ok := false
		for _, p := range r.Paths {
			for _, cand := range []string{f.Extra["pkg_path"], f.Location.File, f.Extra["target"]} {
				if cand == "" {
					continue
				}
				if m, _ := path.Match(p, cand); m || cand == p || strings.HasPrefix(cand, strings.TrimSuffix(p, "/")+"/") {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.PURLs) > 0 {
		ok := false
		for _, p := range r.PURLs {
			if purl := f.Extra["purl"]; purl != "" && vex.PurlMatches(p, purl) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// ApplyIgnores marks findings matched by a rule as suppressed (kind "trivyignore") with the
// rule's reason and expiry; gate.Apply later lifts suppressions whose expiry has passed.
func ApplyIgnores(findings []model.Finding, rules []IgnoreRule) {
	for i := range findings {
		f := &findings[i]
		if f.Suppression != nil {
			continue
		}
		for _, r := range rules {
			if r.matches(f) {
				where := r.File
				if r.Line > 0 {
					where = fmt.Sprintf("%s:%d", filepath.Base(r.File), r.Line)
				}
				f.Suppression = &model.Suppression{Kind: "trivyignore", Reason: fmt.Sprintf("%s (%s)", r.Reason, where), Expires: r.Expires}
				break
			}
		}
	}
}
