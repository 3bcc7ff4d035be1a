// Package build is the build stage: it turns the project's Dockerfile into an OCI image archive
// that sbom and scan read and push publishes. The native runner builds with a private BuildKit
// daemon that Tollgate starts and stops itself (or docker buildx when asked); the Dagger module
// builds with Directory.DockerBuild. Both take their inputs from the same Plan.
package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Name is the stage name.
const Name = "build"

// Tool is the builder reported for this stage: the pinned BuildKit.
func Tool() model.Tool {
	return model.Tool{Name: "buildkit", Version: tools.MustGet("buildkitd").Version}
}

// EnvSourceDateEpoch is the reproducible-builds variable: when set (or derived from the last
// commit), image timestamps are clamped to it so the same sources give the same digest.
const EnvSourceDateEpoch = "SOURCE_DATE_EPOCH"

// Plan is one build, resolved from the config: absolute paths, validated values. It is what
// both runners build from.
type Plan struct {
	Root       string // project root (absolute)
	ContextDir string // build context (absolute)
	Dockerfile string // Dockerfile (absolute)
	// DockerfileRel names the Dockerfile in messages, relative to the project root.
	DockerfileRel string
	Target        string
	BuildArgs     map[string]string
	Secrets       []Secret
	Platforms     []string
	Timeout       time.Duration
	// Annotations are the OCI annotations written on the image manifest (and index).
	Annotations map[string]string
	// SourceDateEpoch is SOURCE_DATE_EPOCH in seconds ("" when unknown): it becomes a build arg,
	// the image's created time and the clamp for file timestamps in layers.
	SourceDateEpoch string
}

// Secret is one build secret: its id and where its value is read, never the value itself.
type Secret struct {
	ID   string
	Env  string // environment variable, or
	File string // absolute file path
}

// NewPlan resolves the build section of cfg against root. lookupEnv reads the environment
// (os.LookupEnv in production); git describes the sources (zero when not a git checkout).
// A bad path, a missing Dockerfile or an unset secret variable is a *model.InputError.
func NewPlan(root string, cfg *config.Config, git GitInfo, lookupEnv func(string) (string, bool)) (*Plan, error) {
	b := cfg.Build
	if err := cfg.ValidateBuild(); err != nil {
		return nil, err
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, &model.InputError{File: root, Err: err}
	}
	p := &Plan{
		Root:          absRoot,
		ContextDir:    filepath.Join(absRoot, filepath.FromSlash(b.ContextDir())),
		DockerfileRel: b.DockerfilePath(),
		Target:        b.Target,
		BuildArgs:     map[string]string{},
		Platforms:     append([]string(nil), b.Platforms...),
	}
	p.Dockerfile = filepath.Join(absRoot, filepath.FromSlash(p.DockerfileRel))
	if st, err := os.Stat(p.ContextDir); err != nil || !st.IsDir() {
		return nil, &model.InputError{File: b.ContextDir(), Err: errors.New("build context is not a readable directory (set build.context in tollgate.yaml)")}
	}
	if st, err := os.Stat(p.Dockerfile); err != nil || st.IsDir() {
		return nil, &model.InputError{File: p.DockerfileRel, Err: errors.New("Dockerfile not found (set build.dockerfile in tollgate.yaml)")}
	}
	if p.Timeout, err = b.TimeoutDuration(); err != nil {
		return nil, &model.InputError{File: cfg.Path, Line: b.Line, Err: err}
	}
	for k, v := range b.BuildArgs {
		p.BuildArgs[k] = v
	}
	for _, s := range b.Secrets {
		sec := Secret{ID: s.ID, Env: s.Env}
		if s.File != "" {
			sec.File = s.File
			if !filepath.IsAbs(sec.File) {
				sec.File = filepath.Join(absRoot, filepath.FromSlash(s.File))
			}
			if _, err := os.Stat(sec.File); err != nil {
				return nil, &model.InputError{File: cfg.Path, Line: s.Line, Err: fmt.Errorf("build secret %q: file %s: %w", s.ID, s.File, err)}
			}
		} else if _, ok := lookupEnv(s.Env); !ok {
			return nil, &model.InputError{File: cfg.Path, Line: s.Line, Err: fmt.Errorf("build secret %q: environment variable %s is not set", s.ID, s.Env)}
		}
		p.Secrets = append(p.Secrets, sec)
	}
	epoch, err := sourceDateEpoch(lookupEnv, git)
	if err != nil {
		return nil, &model.InputError{Err: err}
	}
	p.SourceDateEpoch = epoch
	if epoch != "" {
		// The frontend clamps the image's created time and history to it; a user's explicit
		// build arg of the same name wins, as with docker buildx.
		if _, ok := p.BuildArgs[EnvSourceDateEpoch]; !ok {
			p.BuildArgs[EnvSourceDateEpoch] = epoch
		}
	}
	p.Annotations = Annotations(git, epoch)
	return p, nil
}

// sourceDateEpoch is $SOURCE_DATE_EPOCH when set, else the last commit's time when the sources
// are a clean git checkout, else "" (the build is then not reproducible).
func sourceDateEpoch(lookupEnv func(string) (string, bool), git GitInfo) (string, error) {
	if v, ok := lookupEnv(EnvSourceDateEpoch); ok && v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return "", fmt.Errorf("%s=%q is not a number of seconds since 1970", EnvSourceDateEpoch, v)
		}
		return v, nil
	}
	if git.CommitTime > 0 && !git.Dirty {
		return strconv.FormatInt(git.CommitTime, 10), nil
	}
	return "", nil
}

// SortedBuildArgs returns the build args as KEY=VALUE, sorted (stable arguments, stable cache).
func (p *Plan) SortedBuildArgs() []string {
	keys := make([]string, 0, len(p.BuildArgs))
	for k := range p.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+p.BuildArgs[k])
	}
	return out
}

// Describe is a one-line account of the build for progress output.
func (p *Plan) Describe() string {
	var parts []string
	parts = append(parts, p.DockerfileRel)
	if p.Target != "" {
		parts = append(parts, "target "+p.Target)
	}
	if len(p.Platforms) > 0 {
		parts = append(parts, strings.Join(p.Platforms, ","))
	}
	if p.SourceDateEpoch != "" {
		parts = append(parts, EnvSourceDateEpoch+"="+p.SourceDateEpoch)
	}
	return strings.Join(parts, ", ")
}
