// Package config reads tollgate serve's configuration file (serve.yaml). Every key is
// optional; unknown keys and bad values are errors naming the line. Secrets never live in the
// file or in flags: the file names the environment variable or file that holds each one.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/scan"
)

// Defaults.
const (
	DefaultListen    = "127.0.0.1:8080"
	DefaultSecretEnv = "TOLLGATE_SERVE_SECRET"
	DefaultDatabase  = "tollgate-serve.db" // under data-dir
)

// Config is the whole of serve.yaml.
type Config struct {
	// Listen is the HTTP address (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// Database is a SQLite file path (default <data-dir>/tollgate-serve.db) or a
	// postgres:// URL without a password (use PGPASSWORD or PGPASSFILE).
	Database string `yaml:"database"`
	// DataDir holds the SQLite file, the trivy layer caches and scratch space.
	DataDir string `yaml:"data-dir"`
	// BaseURL is the service's public URL, for links in notifications.
	BaseURL string `yaml:"base-url"`
	// Instance names this replica in job records (default: host name and pid).
	Instance string `yaml:"instance"`

	Auth       Auth       `yaml:"auth"`
	Ingest     Ingest     `yaml:"ingest"`
	Queue      Queue      `yaml:"queue"`
	Registries []Registry `yaml:"registries"`
	Scan       Scan       `yaml:"scan"`
	Rescan     Rescan     `yaml:"rescan"`
	Notify     Notify     `yaml:"notify"`
	// ShutdownTimeout bounds the drain of running jobs on SIGTERM (default 30s).
	ShutdownTimeout Duration `yaml:"shutdown-timeout"`

	// Path is the file read ("" for defaults).
	Path string `yaml:"-"`
}

// Secret names where a secret comes from: an environment variable or a file (a mounted
// Kubernetes Secret). Never the value itself.
type Secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Set reports whether a source is named.
func (s Secret) Set() bool { return s.Env != "" || s.File != "" }

// Read loads the secret; a named source that is missing or empty is an error.
func (s Secret) Read(what string) (string, error) {
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("%s: read secret file: %w", what, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s: secret file %s is empty", what, s.File)
		}
		return v, nil
	case s.Env != "":
		v := os.Getenv(s.Env)
		if v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", what, s.Env)
		}
		return v, nil
	}
	return "", nil
}

// Auth configures authentication of every endpoint except /healthz and /readyz.
type Auth struct {
	// Secret is the shared secret for ingest (bearer token or HMAC key) and reads (default
	// env TOLLGATE_SERVE_SECRET).
	Secret Secret `yaml:"secret"`
	// ReadToken, when set, is a second token that can read (API, page, metrics) but not ingest.
	ReadToken Secret `yaml:"read-token"`
	// Disabled turns authentication off; only for a service reachable by nobody else.
	Disabled bool `yaml:"disabled"`
}

// Ingest limits the ingest endpoints.
type Ingest struct {
	// MaxBody is the largest accepted request body in bytes (default 1 MiB).
	MaxBody int64 `yaml:"max-body"`
}

// Queue tunes the workers.
type Queue struct {
	// Workers is the number of concurrent scans (default 2).
	Workers int `yaml:"workers"`
	// MaxAttempts per job before it is recorded as failed (default 5).
	MaxAttempts int `yaml:"max-attempts"`
	// Backoff is the wait after the first failed attempt; it doubles up to MaxBackoff
	// (defaults 10s and 10m).
	Backoff    Duration `yaml:"backoff"`
	MaxBackoff Duration `yaml:"max-backoff"`
	// Lease is how long a claimed job is held without renewal before another worker may take it
	// (default 2m; renewed every third of it).
	Lease Duration `yaml:"lease"`
	// Poll is how often idle workers look for due jobs (default 1s; pushes wake them at once).
	Poll Duration `yaml:"poll"`
	// Nice is the scheduling priority of the scanners the workers start (Linux; default 10, 0
	// keeps the service's own): scans then yield the CPU to acknowledging pushes. The service's
	// own threads keep their priority.
	Nice *int `yaml:"nice"`
}

// Registry is one registry the service pulls from. When the list is empty any registry is
// accepted and pulled anonymously; otherwise events naming other hosts are skipped.
type Registry struct {
	// Host as it appears in image references and events, e.g. registry.example.com:5000.
	Host     string `yaml:"host"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	Line     int    `yaml:"-"`
}

// Scan configures the scans.
type Scan struct {
	// DBDir is a trivy cache dir holding db/trivy.db and db/metadata.json (required).
	DBDir string `yaml:"db-dir"`
	// DBMaxAge refuses an older DB (default 7d; "0" disables).
	DBMaxAge string `yaml:"db-max-age"`
	// DBPoll is how often the DB is checked for a change (default 1m).
	DBPoll Duration `yaml:"db-poll"`
	// Timeout bounds trivy and syft (default 10m).
	Timeout Duration `yaml:"timeout"`
	// RegistryTimeout bounds resolving a manifest (default 45s).
	RegistryTimeout Duration `yaml:"registry-timeout"`
	// IgnoreUnfixed drops findings without a fixed version.
	IgnoreUnfixed bool `yaml:"ignore-unfixed"`
	// FailOn marks findings at or above it as blocking in SARIF reports (default HIGH).
	FailOn model.Severity `yaml:"fail-on"`
}

// Rescan schedules rescans besides DB changes.
type Rescan struct {
	// Interval rescans every stored image this often even without a DB change (default 24h;
	// "0" disables).
	Interval Duration `yaml:"interval"`
}

// Notify configures notifications.
type Notify struct {
	// MinSeverity is the lowest severity worth a message (default HIGH).
	MinSeverity model.Severity `yaml:"min-severity"`
	// FixableOnly sends only findings with a fixed version.
	FixableOnly bool `yaml:"fixable-only"`
	// MaxAttempts per delivery before it is recorded as failed (default 8).
	MaxAttempts int `yaml:"max-attempts"`
	// Backoff after the first failed delivery, doubling up to MaxBackoff (defaults 30s, 1h).
	Backoff    Duration `yaml:"backoff"`
	MaxBackoff Duration `yaml:"max-backoff"`
	// Timeout of one delivery (default 15s).
	Timeout Duration `yaml:"timeout"`
	Targets []Target `yaml:"targets"`
}

// Target types.
const (
	TargetWebhook = "webhook"
	TargetSlack   = "slack"
	TargetGitHub  = "github"
	TargetGitLab  = "gitlab"
)

// Target is one receiver of notifications.
type Target struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // webhook, slack, github, gitlab
	// URL of a webhook; for Slack the URL is the secret, so give it as url-secret.
	URL       string `yaml:"url"`
	URLSecret Secret `yaml:"url-secret"`
	// Secret signs webhook bodies (HMAC-SHA256).
	Secret Secret `yaml:"secret"`
	// API is GitHub's (default https://api.github.com) or GitLab's (default https://gitlab.com) base URL.
	API string `yaml:"api"`
	// Repository is GitHub's owner/name; Project is GitLab's id or group/project.
	Repository string   `yaml:"repository"`
	Project    string   `yaml:"project"`
	Token      Secret   `yaml:"token"`
	Labels     []string `yaml:"labels"`
	Line       int      `yaml:"-"`
}

// Duration is a Go duration in YAML ("90s", "10m"); "0" disables where documented.
type Duration struct {
	time.Duration
	set bool
}

// IsSet reports whether the key was given.
func (d Duration) IsSet() bool { return d.set }

// UnmarshalYAML reads a Go duration and names the line on error.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		return fmt.Errorf("line %d: want a duration such as 30s or 10m, got %q", n.Line, n.Value)
	}
	d.Duration, d.set = v, true
	return nil
}

// Load reads path; a missing file is an error only if required.
func Load(path string, required bool) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if !required && errors.Is(err, os.ErrNotExist) {
			return Parse("", nil)
		}
		return nil, &model.InputError{File: path, Err: fmt.Errorf("read serve config: %w", err)}
	}
	return Parse(path, b)
}

// Parse decodes and checks a config; name is used in errors.
func Parse(name string, b []byte) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(b)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(name, err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(b, &root); err == nil {
			recordLines(&root, c)
		}
	}
	c.Path = name
	c.defaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func yamlError(name string, err error) error {
	msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n"), "yaml: ")
	first := strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	line := 0
	if _, err := fmt.Sscanf(first, "line %d:", &line); err == nil {
		if _, rest, ok := strings.Cut(first, ": "); ok {
			first = rest
		}
	}
	if f, ok := strings.CutPrefix(first, "field "); ok {
		if k, typ, ok := strings.Cut(f, " not found in type "); ok {
			first = fmt.Sprintf("unknown key %q (in %s)", k, strings.TrimPrefix(typ, "config."))
		}
	}
	return &model.InputError{File: name, Line: line, Err: errors.New(first)}
}

// Reparse applies defaults and checks c again after command-line flags changed it.
func Reparse(c *Config) (*Config, error) {
	c.defaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// recordLines keeps the line of each registry and target for messages about them.
func recordLines(root *yaml.Node, c *Config) {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		switch m.Content[i].Value {
		case "registries":
			for j, item := range m.Content[i+1].Content {
				if j < len(c.Registries) {
					c.Registries[j].Line = item.Line
				}
			}
		case "notify":
			n := m.Content[i+1]
			for k := 0; k+1 < len(n.Content); k += 2 {
				if n.Content[k].Value == "targets" {
					for j, item := range n.Content[k+1].Content {
						if j < len(c.Notify.Targets) {
							c.Notify.Targets[j].Line = item.Line
						}
					}
				}
			}
		}
	}
}

func orDur(d Duration, def time.Duration) Duration {
	if !d.set {
		return Duration{Duration: def, set: true}
	}
	return d
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if !c.Auth.Secret.Set() {
		c.Auth.Secret.Env = DefaultSecretEnv
	}
	if c.Ingest.MaxBody <= 0 {
		c.Ingest.MaxBody = 1 << 20
	}
	if c.Queue.Workers <= 0 {
		c.Queue.Workers = 2
	}
	if c.Queue.MaxAttempts <= 0 {
		c.Queue.MaxAttempts = 5
	}
	c.Queue.Backoff = orDur(c.Queue.Backoff, 10*time.Second)
	c.Queue.MaxBackoff = orDur(c.Queue.MaxBackoff, 10*time.Minute)
	c.Queue.Lease = orDur(c.Queue.Lease, 2*time.Minute)
	c.Queue.Poll = orDur(c.Queue.Poll, time.Second)
	if c.Queue.Nice == nil {
		n := 10
		c.Queue.Nice = &n
	}
	if c.Scan.DBMaxAge == "" {
		c.Scan.DBMaxAge = "7d"
	}
	c.Scan.DBPoll = orDur(c.Scan.DBPoll, time.Minute)
	c.Scan.Timeout = orDur(c.Scan.Timeout, 10*time.Minute)
	c.Scan.RegistryTimeout = orDur(c.Scan.RegistryTimeout, 45*time.Second)
	if c.Scan.FailOn == model.SeverityUnknown {
		c.Scan.FailOn = model.SeverityHigh
	}
	c.Rescan.Interval = orDur(c.Rescan.Interval, 24*time.Hour)
	if c.Notify.MinSeverity == model.SeverityUnknown {
		c.Notify.MinSeverity = model.SeverityHigh
	}
	if c.Notify.MaxAttempts <= 0 {
		c.Notify.MaxAttempts = 8
	}
	c.Notify.Backoff = orDur(c.Notify.Backoff, 30*time.Second)
	c.Notify.MaxBackoff = orDur(c.Notify.MaxBackoff, time.Hour)
	c.Notify.Timeout = orDur(c.Notify.Timeout, 15*time.Second)
	c.ShutdownTimeout = orDur(c.ShutdownTimeout, 30*time.Second)
	for i := range c.Notify.Targets {
		t := &c.Notify.Targets[i]
		if t.API == "" {
			switch t.Type {
			case TargetGitHub:
				t.API = "https://api.github.com"
			case TargetGitLab:
				t.API = "https://gitlab.com"
			}
		}
	}
}

// DBMaxAge is the parsed scan.db-max-age (0: no limit).
func (c *Config) DBMaxAge() time.Duration {
	d, _ := scan.ParseAge(c.Scan.DBMaxAge)
	return d
}

func (c *Config) errAt(line int, format string, args ...any) error {
	return &model.InputError{File: c.Path, Line: line, Err: fmt.Errorf(format, args...)}
}

func (c *Config) validate() error {
	if strings.HasPrefix(c.Database, "postgres") {
		if u, err := url.Parse(c.Database); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				return c.errAt(0, "database: the URL holds a password; put it in PGPASSWORD or a PGPASSFILE instead, never in the config or a flag")
			}
		}
	}
	if n := *c.Queue.Nice; n < 0 || n > 19 {
		return c.errAt(0, "queue.nice: %d is not between 0 and 19", n)
	}
	if _, err := scan.ParseAge(c.Scan.DBMaxAge); err != nil {
		return c.errAt(0, "scan.db-max-age: %v", err)
	}
	seen := map[string]bool{}
	for _, r := range c.Registries {
		if r.Host == "" || strings.Contains(r.Host, "/") {
			return c.errAt(r.Line, "registries: host %q must be a registry host[:port]", r.Host)
		}
		if seen[r.Host] {
			return c.errAt(r.Line, "registries: %s listed twice", r.Host)
		}
		seen[r.Host] = true
		if (r.Username == "") != !r.Password.Set() {
			return c.errAt(r.Line, "registries: %s needs both username and password (password: {env: VAR} or {file: PATH})", r.Host)
		}
	}
	names := map[string]bool{}
	for _, t := range c.Notify.Targets {
		if t.Name == "" {
			return c.errAt(t.Line, "notify.targets: every target needs a name")
		}
		if names[t.Name] {
			return c.errAt(t.Line, "notify.targets: name %q used twice", t.Name)
		}
		names[t.Name] = true
		switch t.Type {
		case TargetWebhook:
			if t.URL == "" && !t.URLSecret.Set() {
				return c.errAt(t.Line, "notify.targets %s: webhook needs url or url-secret", t.Name)
			}
		case TargetSlack:
			if !t.URLSecret.Set() {
				return c.errAt(t.Line, "notify.targets %s: a Slack webhook URL is a secret: give it as url-secret: {env: VAR} or {file: PATH}", t.Name)
			}
		case TargetGitHub:
			if strings.Count(t.Repository, "/") != 1 || !t.Token.Set() {
				return c.errAt(t.Line, "notify.targets %s: github needs repository: owner/name and token: {env: VAR} or {file: PATH}", t.Name)
			}
		case TargetGitLab:
			if t.Project == "" || !t.Token.Set() {
				return c.errAt(t.Line, "notify.targets %s: gitlab needs project and token: {env: VAR} or {file: PATH}", t.Name)
			}
		default:
			return c.errAt(t.Line, "notify.targets %s: unknown type %q (want webhook, slack, github or gitlab)", t.Name, t.Type)
		}
		for _, u := range []string{t.URL, t.API} {
			if u == "" {
				continue
			}
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				return c.errAt(t.Line, "notify.targets %s: %q is not an http(s) URL", t.Name, u)
			}
		}
	}
	return nil
}
