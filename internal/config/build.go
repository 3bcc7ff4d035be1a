package config

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Build configures the image build. Its Dockerfile and build args are also what the lint stage
// checks, so lint and build always look at the same file the same way.
type Build struct {
	// Dockerfile, relative to the project root (default: Dockerfile in Context).
	Dockerfile string `yaml:"dockerfile"`
	// Context is the build context directory, relative to the project root (default ".").
	Context string `yaml:"context"`
	// Target is the Dockerfile stage to build (default: the last one).
	Target string `yaml:"target"`
	// BuildArgs are ARG values; they are not secret (they end up in the image history).
	BuildArgs map[string]string `yaml:"build-args"`
	// Secrets are mounted into RUN --mount=type=secret steps; values come from an environment
	// variable or a file, never from this file.
	Secrets []BuildSecret `yaml:"secrets"`
	// Platforms to build, e.g. [linux/amd64, linux/arm64] (default: the builder's own).
	Platforms []string `yaml:"platforms"`
	// Timeout for the whole build, as a Go duration (default 30m).
	Timeout string `yaml:"timeout"`
	// Builder picks the native builder: auto (default: Tollgate's private BuildKit),
	// buildkit, or buildx (docker buildx on a running Docker daemon).
	Builder string `yaml:"builder"`
	// Output is where the OCI archive is written, relative to the project root (default: the
	// run's scratch dir, removed after the run).
	Output string `yaml:"output"`

	// Configured is set when the file has a build section, a flag asks for a build (--build)
	// or the build stage was selected by name. Without it the stage is skipped.
	Configured bool `yaml:"-"`
	// Line of the build section in the config file (0 when absent).
	Line int `yaml:"-"`
}

// BuildSecret names one build secret and where its value comes from: exactly one of Env or File.
type BuildSecret struct {
	// ID is the id a Dockerfile mounts: RUN --mount=type=secret,id=ID.
	ID string `yaml:"id"`
	// Env is the environment variable holding the value.
	Env string `yaml:"env"`
	// File holds the value; relative to the project root.
	File string `yaml:"file"`
	// Value is refused: secret values never go in tollgate.yaml.
	Value yaml.Node `yaml:"value"`
	// Line of the entry in the config file.
	Line int `yaml:"-"`
}

// Builders the native build stage knows.
var builders = []string{"auto", "buildkit", "buildx"}

// DefaultBuildTimeout bounds a build when build.timeout is not set.
const DefaultBuildTimeout = 30 * time.Minute

func (b *Build) defaults() {
	if b.Builder == "" {
		b.Builder = "auto"
	}
	if b.Timeout == "" {
		b.Timeout = "30m"
	}
}

// DockerfilePath is the Dockerfile the build uses, relative to the project root (slash form).
func (b *Build) DockerfilePath() string {
	if b.Dockerfile != "" {
		return path.Clean(b.Dockerfile)
	}
	return path.Join(b.ContextDir(), "Dockerfile")
}

// ContextDir is the build context, relative to the project root (slash form).
func (b *Build) ContextDir() string {
	if b.Context == "" {
		return "."
	}
	return path.Clean(b.Context)
}

// TimeoutDuration parses Timeout.
func (b *Build) TimeoutDuration() (time.Duration, error) {
	d, err := time.ParseDuration(b.Timeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("build.timeout: %q is not a positive Go duration (e.g. 30m)", b.Timeout)
	}
	return d, nil
}

// LintDockerfiles is what the lint stage checks: lint.dockerfiles when the file sets it, else
// the build's Dockerfile when build.dockerfile or build.context is set, else the default
// Dockerfile. defaulted is true only in the last case (a missing default file skips the stage).
func (c *Config) LintDockerfiles() (paths []string, defaulted bool) {
	if !c.Lint.DockerfilesDefaulted {
		return c.Lint.Dockerfiles, false
	}
	if c.Build.Dockerfile != "" || c.Build.Context != "" {
		return []string{c.Build.DockerfilePath()}, false
	}
	return c.Lint.Dockerfiles, true
}

var (
	platformRe = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)
	secretIDRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	argNameRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ValidateBuild checks the build section; errors name the file and, where known, the line.
func (c *Config) ValidateBuild() error {
	b := &c.Build
	bad := func(line int, format string, args ...any) error {
		if line == 0 {
			line = b.Line
		}
		return &model.InputError{File: c.Path, Line: line, Err: fmt.Errorf(format, args...)}
	}
	known := false
	for _, n := range builders {
		known = known || n == b.Builder
	}
	if !known {
		return bad(0, "build.builder: unknown builder %q (want %s)", b.Builder, strings.Join(builders, ", "))
	}
	if _, err := b.TimeoutDuration(); err != nil {
		return bad(0, "%v", err)
	}
	for _, p := range []struct{ key, v string }{{"dockerfile", b.Dockerfile}, {"context", b.Context}} {
		if c := path.Clean(p.v); p.v != "" && (path.IsAbs(p.v) || c == ".." || strings.HasPrefix(c, "../")) {
			return bad(0, "build.%s: %q must be a path inside the project", p.key, p.v)
		}
	}
	for k := range b.BuildArgs {
		if !argNameRe.MatchString(k) {
			return bad(0, "build.build-args: %q is not a valid ARG name", k)
		}
	}
	for _, p := range b.Platforms {
		if !platformRe.MatchString(p) {
			return bad(0, "build.platforms: %q is not a platform such as linux/amd64 or linux/arm64/v8", p)
		}
	}
	seen := map[string]bool{}
	for _, s := range b.Secrets {
		switch {
		case s.Value.Kind != 0:
			return bad(s.Line, "build.secrets: %q has a value; secret values never go in %s: name an environment variable (env:) or a file (file:)", s.ID, FileName)
		case !secretIDRe.MatchString(s.ID):
			return bad(s.Line, "build.secrets: every secret needs an id made of letters, digits, '.', '_' or '-' (got %q)", s.ID)
		case (s.Env == "") == (s.File == ""):
			return bad(s.Line, "build.secrets: secret %q needs exactly one of env: (an environment variable) or file:", s.ID)
		case seen[s.ID]:
			return bad(s.Line, "build.secrets: secret %q is listed twice", s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}

// ParseBuildSecret reads a --secret flag value: id=ID,env=VAR or id=ID,src=FILE (Docker's
// spelling; file= is accepted too). A value= part is refused: values never go on a command line.
func ParseBuildSecret(v string) (BuildSecret, error) {
	var s BuildSecret
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return s, fmt.Errorf("secret %q: want id=ID,env=VAR or id=ID,src=FILE", v)
		}
		switch k {
		case "id":
			s.ID = val
		case "env":
			s.Env = val
		case "src", "source", "file":
			s.File = val
		case "value":
			return s, errors.New("secret values never go on the command line: name an environment variable (env=) or a file (src=)")
		default:
			return s, fmt.Errorf("secret %q: unknown key %q (want id, env or src)", v, k)
		}
	}
	if !secretIDRe.MatchString(s.ID) || (s.Env == "") == (s.File == "") {
		return s, fmt.Errorf("secret %q: want id=ID with exactly one of env=VAR or src=FILE", v)
	}
	return s, nil
}
