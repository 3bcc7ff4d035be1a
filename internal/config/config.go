// Package config loads tollgate.yaml. Every key is optional; unknown keys and wrong types are
// errors that name the file and line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	pathpkg "path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// FileName is the config file looked up at the project root.
const FileName = "tollgate.yaml"

// Config is the whole of tollgate.yaml.
type Config struct {
	// Version of the file format; only 1 exists.
	Version int `yaml:"version"`
	// Stages to run by default (all when empty).
	Stages []string `yaml:"stages"`
	// Gate is the default gate; stage sections may override FailOn.
	Gate Gate `yaml:"gate"`
	// Ignore entries apply to every stage unless they name one.
	Ignore []Ignore `yaml:"ignore"`
	// Tools configures where pinned tools live.
	Tools Tools `yaml:"tools"`
	// Cache configures the result cache.
	Cache Cache `yaml:"cache"`

	Build    Build    `yaml:"build"`
	Lint     Lint     `yaml:"lint"`
	Validate Validate `yaml:"validate"`
	Score    Score    `yaml:"score"`
	Scan     Scan     `yaml:"scan"`
	SBOM     SBOM     `yaml:"sbom"`
	Push     Push     `yaml:"push"`
	Sign     Sign     `yaml:"sign"`
	Attest   Attest   `yaml:"attest"`
	Verify   Verify   `yaml:"verify"`
	Deploy   Deploy   `yaml:"deploy"`
	Policy   Policy   `yaml:"policy"`

	// Path is the file the config was read from ("" for defaults).
	Path string `yaml:"-"`
	// lines maps "section.key[i]" of the path lists to their line in the file.
	lines map[string]int
}

// Gate decides pass or fail from findings.
type Gate struct {
	// FailOn is the lowest severity that fails a stage (default HIGH).
	FailOn model.Severity `yaml:"fail-on"`
}

// Ignore silences findings that match it, until Expires.
type Ignore struct {
	// ID is a rule ID or a CVE ID; required.
	ID string `yaml:"id"`
	// Stage limits the ignore to one stage.
	Stage string `yaml:"stage"`
	// Path limits the ignore to findings in files matching this glob (or prefix).
	Path string `yaml:"path"`
	// Resource limits the ignore to one resource (Kind/namespace/name, package name...).
	Resource string `yaml:"resource"`
	// Reason is required: why it is acceptable.
	Reason string `yaml:"reason"`
	// Expires (YYYY-MM-DD) ends the ignore; after that date it no longer applies.
	Expires Date `yaml:"expires"`
	// Line is the line of this entry in the config file.
	Line int `yaml:"-"`
}

// Tools configures the pinned tool cache.
type Tools struct {
	// CacheDir holds built tools (default: $TOLLGATE_CACHE_DIR or the user cache dir).
	CacheDir string `yaml:"cache-dir"`
	// AutoInstall builds a missing tool on first use (default true).
	AutoInstall *bool `yaml:"auto-install"`
}

// Date is a calendar date in YAML (YYYY-MM-DD).
type Date struct{ time.Time }

// UnmarshalYAML reads YYYY-MM-DD.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a date YYYY-MM-DD", n.Line)
	}
	t, err := time.Parse("2006-01-02", n.Value)
	if err != nil {
		return fmt.Errorf("line %d: want a date YYYY-MM-DD, got %q", n.Line, n.Value)
	}
	d.Time = t
	return nil
}

// Default returns the configuration used when there is no file.
func Default() *Config {
	c := &Config{Version: 1}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Version == 0 {
		c.Version = 1
	}
	if c.Gate.FailOn == model.SeverityUnknown {
		c.Gate.FailOn = model.SeverityHigh
	}
	c.Build.defaults()
	c.Lint.defaults()
	c.Validate.defaults()
	c.Score.defaults()
	c.Scan.defaults()
	c.SBOM.defaults()
	c.Push.defaults()
	c.Sign.defaults()
	c.Attest.defaults()
	c.Verify.defaults()
	c.Deploy.defaults()
	c.Policy.defaults()
	c.Cache.defaults()
}

// Load reads a config file. A missing file at the default location is not an error:
// pass required=false for that case.
func Load(path string, required bool) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if !required && errors.Is(err, os.ErrNotExist) {
			return Default(), nil
		}
		return nil, &model.InputError{File: path, Err: fmt.Errorf("read config: %w", err)}
	}
	c, err := Parse(path, b)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes config bytes; name is used in error messages.
func Parse(name string, b []byte) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(b)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(name, err)
		}
		// A second document (a stray "---" between two configs) would be dropped silently.
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil && len(extra.Content) > 0 && extra.Content[0].Tag != "!!null" {
			return nil, &model.InputError{File: name, Line: extra.Content[0].Line,
				Err: errors.New("a second YAML document: the config must be one document (remove the extra ---)")}
		}
		var root yaml.Node
		if err := yaml.Unmarshal(b, &root); err == nil {
			recordIgnoreLines(&root, c)
			recordSections(&root, c)
			recordRequirementLines(&root, c)
			recordListLines(&root, c)
		}
	}
	c.Path = name
	c.Request(c.Stages)
	c.applyDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var lineRe = regexp.MustCompile(`line (\d+): `)

// yamlError turns yaml.v3's messages into file:line errors with friendlier wording.
func yamlError(name string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	first := strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	line := 0
	if m := lineRe.FindStringSubmatch(first); m != nil {
		line, _ = strconv.Atoi(m[1])
		first = lineRe.ReplaceAllString(first, "")
	}
	if f, ok := strings.CutPrefix(first, "field "); ok {
		if k, typ, ok := strings.Cut(f, " not found in type "); ok {
			first = fmt.Sprintf("unknown key %q (in %s)", k, sectionName(typ))
		}
	}
	return &model.InputError{File: name, Line: line, Err: errors.New(first)}
}

func sectionName(typ string) string {
	typ = strings.TrimPrefix(typ, "config.")
	if typ == "Config" {
		return "top level"
	}
	return strings.ToLower(typ) + " section"
}

// recordIgnoreLines keeps the line of each ignore entry so messages about it can point there.
func recordIgnoreLines(root *yaml.Node, c *Config) {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "ignore" && m.Content[i+1].Kind == yaml.SequenceNode {
			for j, item := range m.Content[i+1].Content {
				if j < len(c.Ignore) {
					c.Ignore[j].Line = item.Line
				}
			}
		}
	}
}

// recordSections notes which release-related sections the file has (a build or push section
// turns its stage on) and their lines, for messages.
func recordSections(root *yaml.Node, c *Config) {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch k.Value {
		case "build":
			c.Build.Configured, c.Build.Line = true, k.Line
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j].Value == "secrets" && v.Content[j+1].Kind == yaml.SequenceNode {
					for n, item := range v.Content[j+1].Content {
						if n < len(c.Build.Secrets) {
							c.Build.Secrets[n].Line = item.Line
						}
					}
				}
			}
		case "push":
			c.Push.Configured, c.Push.Line = true, k.Line
		}
	}
}

// recordRequirementLines keeps the line of each verify.require entry for messages about it.
func recordRequirementLines(root *yaml.Node, c *Config) {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return
	}
	verify := mappingValue(root.Content[0], "verify")
	if req := mappingValue(verify, "require"); req != nil && req.Kind == yaml.SequenceNode {
		for j, item := range req.Content {
			if j < len(c.Verify.Require) {
				c.Verify.Require[j].Line = item.Line
			}
		}
	}
}

// Request marks the build and push stages as wanted when they are named explicitly (on the
// command line or in the file's stages list): named stages run even without their section.
func (c *Config) Request(stages []string) {
	for _, s := range stages {
		switch strings.TrimSpace(s) {
		case "build":
			c.Build.Configured = true
		case "push":
			c.Push.Configured = true
		}
	}
}

// mappingValue returns the value under key in a mapping node (nil when absent).
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func (c *Config) validate() error {
	if c.Version != 1 {
		return &model.InputError{File: c.Path, Err: fmt.Errorf("version %d is not supported (want 1)", c.Version)}
	}
	for _, s := range c.Stages {
		if !KnownStage(s) {
			return &model.InputError{File: c.Path, Err: fmt.Errorf("stages: unknown stage %q (known: %s)", s, strings.Join(StageNames(), ", "))}
		}
	}
	if err := c.Policy.validate(c.Path); err != nil {
		return err
	}
	for _, ig := range c.Ignore {
		if ig.ID == "" {
			return &model.InputError{File: c.Path, Line: ig.Line, Err: errors.New("ignore entry needs an id (rule or CVE ID)")}
		}
		if strings.TrimSpace(ig.Reason) == "" {
			return &model.InputError{File: c.Path, Line: ig.Line, Err: fmt.Errorf("ignore %s needs a reason", ig.ID)}
		}
		if ig.Stage != "" && !KnownStage(ig.Stage) {
			return &model.InputError{File: c.Path, Line: ig.Line, Err: fmt.Errorf("ignore %s: unknown stage %q", ig.ID, ig.Stage)}
		}
		// A malformed glob never matches, so the ignore would silently not apply.
		if _, err := pathpkg.Match(ig.Path, ""); ig.Path != "" && err != nil {
			return &model.InputError{File: c.Path, Line: ig.Line, Err: fmt.Errorf("ignore %s: path %q is not a valid glob: %v", ig.ID, ig.Path, err)}
		}
	}
	if err := c.ValidateBuild(); err != nil {
		return err
	}
	if err := c.validateCache(); err != nil {
		return err
	}
	return c.ValidatePush()
}

// StageNames lists every stage Tollgate knows, in pipeline order.
func StageNames() []string {
	return []string{"build", "lint", "validate", "score", "policy", "sbom", "scan", "push", "sign", "attest", "verify", "deploy"}
}

// KnownStage reports whether name is a stage.
func KnownStage(name string) bool {
	for _, s := range StageNames() {
		if s == name {
			return true
		}
	}
	return false
}

// FailOn returns the gate threshold for a stage: its own setting or the global one.
func (c *Config) FailOn(stage string) model.Severity {
	var s model.Severity
	switch stage {
	case "lint":
		s = c.Lint.FailOn
	case "validate":
		s = c.Validate.FailOn
	case "score":
		s = c.Score.FailOn
	case "scan":
		s = c.Scan.FailOn
	case "sign":
		s = c.Sign.FailOn
	case "attest":
		s = c.Attest.FailOn
	case "deploy":
		s = c.Deploy.FailOn
	case "policy":
		s = c.Policy.FailOn
	}
	if s == model.SeverityUnknown {
		return c.Gate.FailOn
	}
	return s
}
