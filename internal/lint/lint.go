// Package lint is the Dockerfile lint stage: BuildKit's parser and linter plus Tollgate's
// security rules, registered like kube-score's checks (see rule.go and the rules_*.go files).
package lint

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Name is the stage name.
const Name = "lint"

// Input is one Dockerfile and the .dockerignore beside it.
type Input struct {
	Path            string // as shown in findings (relative to the project root)
	Content         []byte
	DockerIgnore    []byte // content of .dockerignore beside the Dockerfile
	HasDockerIgnore bool
	// DockerIgnorePath names the ignore file in messages (default: .dockerignore beside Path).
	DockerIgnorePath string
}

// Options tune the rules.
type Options struct {
	// AllowedRegistries lists the registries (host, or host/path prefix) base images may come
	// from; empty allows any.
	AllowedRegistries []string
	// Rules changes a rule's severity or disables it, by rule ID.
	Rules map[string]config.RuleSetting
	// ConfigFile names the config the options came from, for error messages.
	ConfigFile string
	// BuildArgs are the build's ARG values (build.build-args): the lint resolves ARGs the way
	// the build will, e.g. the real base image of FROM ${BASE}.
	BuildArgs map[string]string
}

// OptionsFrom reads lint options from the config. The build args are the build's own.
func OptionsFrom(c *config.Config) Options {
	return Options{AllowedRegistries: c.Lint.AllowedRegistries, Rules: c.Lint.Rules, ConfigFile: c.Path, BuildArgs: c.Build.BuildArgs}
}

// Tool is the "tool" reported for this stage: Tollgate's own linter.
func Tool() model.Tool { return model.Tool{Name: "tollgate-lint", Version: "1"} }

// Lint checks the Dockerfiles. Bad input (binary, empty, unparseable) and bad options
// (unknown rule ID) are a *model.InputError; a crash inside BuildKit's linter is a
// *model.ToolError. The result has no Status: the gate decides it.
func Lint(ctx context.Context, opts Options, inputs []Input) (*model.StageResult, error) {
	rules, err := effectiveRules(opts)
	if err != nil {
		return nil, err
	}
	if err := checkRegistries(opts); err != nil {
		return nil, err
	}
	res := &model.StageResult{Stage: Name, Tool: Tool(), Findings: []model.Finding{}}
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lint %s: %w", in.Path, err)
		}
		fs, err := lintOne(ctx, opts, rules, in)
		if err != nil {
			return nil, err
		}
		res.Findings = append(res.Findings, fs...)
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i].Location, res.Findings[j].Location
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return res.Findings[i].RuleID < res.Findings[j].RuleID
	})
	for _, r := range rules {
		res.Rules = append(res.Rules, r.Rule)
	}
	return res, nil
}

// lintOne parses one Dockerfile, runs every enabled rule and applies inline ignores.
func lintOne(ctx context.Context, opts Options, rules []rule, in Input) ([]model.Finding, error) {
	df, err := parseDockerfile(in, opts.BuildArgs)
	if err != nil {
		return nil, err
	}
	if needsBuildKit(rules) {
		if df.buildkit, err = runBuildKit(ctx, df); err != nil {
			return nil, err
		}
	}
	ignores := parseIgnores(df)
	var out []model.Finding
	for _, r := range rules {
		for _, h := range r.check(df, &opts) {
			f := model.Finding{
				Stage:    Name,
				RuleID:   r.ID,
				Severity: max(capSeverity(r.Severity, h.atMost), h.atLeast),
				Title:    r.Name,
				Message:  h.msg,
				Location: model.Location{File: in.Path, Line: h.line, Resource: h.resource},
				Fix:      r.Fix,
				URL:      r.URL,
			}
			anchor := h.anchor
			if anchor == 0 {
				anchor = h.line
			}
			if s := ignores.match(anchor, r.ID); s != nil {
				f.Suppression = s
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// checkRegistries rejects allow-list entries that cannot match any image.
func checkRegistries(opts Options) error {
	for _, r := range opts.AllowedRegistries {
		if strings.TrimSpace(r) == "" || strings.ContainsAny(r, " \t@") {
			return &model.InputError{File: opts.ConfigFile, Err: fmt.Errorf("lint.allowed-registries: %q is not a registry host or host/path prefix", r)}
		}
	}
	return nil
}

// Rules returns the metadata of every rule with its default severity.
func Rules() []model.Rule {
	var out []model.Rule
	for _, r := range allRules() {
		out = append(out, r.Rule)
	}
	return out
}

func capSeverity(s, atMost model.Severity) model.Severity {
	if atMost != model.SeverityUnknown && atMost < s {
		return atMost
	}
	return s
}
