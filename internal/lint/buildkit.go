package lint

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"

	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	digest "github.com/opencontainers/go-digest"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// BuildKit's own lint rules (the ones `docker build --check` runs) surface as findings under
// their BuildKit names, so `# check=skip=NAME` and Docker's docs apply to them unchanged.
// Tollgate's TG-DF-040/041 cover SecretsUsedInArgOrEnv; InvalidBaseImagePlatform needs the
// real image config from a registry, which a lint run never fetches, so both are left out.
func buildkitRules() []rule {
	return []rule{
		bk(&linter.RuleStageNameCasing, model.SeverityInfo, "Write stage names in lower case.", "FROM alpine:3.20 AS Builder"),
		bk(&linter.RuleFromAsCasing, model.SeverityInfo, "Write `AS` in the same case as `FROM`.", "FROM alpine:3.20 as builder"),
		bk(&linter.RuleNoEmptyContinuation, model.SeverityLow, "Remove empty lines inside a continued instruction.", "FROM alpine:3.20\nRUN apk add --no-cache \\\n\n    curl"),
		bk(&linter.RuleConsistentInstructionCasing, model.SeverityInfo, "Write every instruction in the same case (upper case is usual).", "FROM alpine:3.20\nrun echo hi"),
		bk(&linter.RuleDuplicateStageName, model.SeverityMedium, "Give every stage a unique name.", "FROM alpine:3.20 AS build\nFROM alpine:3.20 AS build"),
		bk(&linter.RuleReservedStageName, model.SeverityLow, "Do not name a stage `scratch` or `context`.", "FROM alpine:3.20 AS scratch"),
		bk(&linter.RuleJSONArgsRecommended, model.SeverityLow, "Use the exec form: `CMD [\"app\", \"--flag\"]`.", "FROM alpine:3.20\nCMD app --flag"),
		bk(&linter.RuleMaintainerDeprecated, model.SeverityInfo, "Use `LABEL org.opencontainers.image.authors=...`.", "FROM alpine:3.20\nMAINTAINER me@example.com"),
		bk(&linter.RuleUndefinedArgInFrom, model.SeverityLow, "Declare the ARG before the first FROM.", "FROM alpine:${VERSION}"),
		bk(&linter.RuleWorkdirRelativePath, model.SeverityLow, "Use an absolute WORKDIR such as /app.", "FROM alpine:3.20\nWORKDIR app"),
		bk(&linter.RuleUndefinedVar, model.SeverityInfo, "Declare the variable with ARG or ENV first. Tollgate does not fetch base images, so variables only the base image defines are reported too.", "FROM alpine:3.20\nCOPY $SRC /app"),
		bk(&linter.RuleMultipleInstructionsDisallowed, model.SeverityLow, "Keep only the last CMD/ENTRYPOINT/HEALTHCHECK of a stage.", "FROM alpine:3.20\nCMD [\"a\"]\nCMD [\"b\"]"),
		bk(&linter.RuleLegacyKeyValueFormat, model.SeverityInfo, "Write `ENV KEY=value`.", "FROM alpine:3.20\nENV KEY value"),
		bk(&linter.RuleRedundantTargetPlatform, model.SeverityInfo, "Drop `--platform=$TARGETPLATFORM`; it is the default.", "FROM --platform=$TARGETPLATFORM alpine:3.20"),
		bk(&linter.RuleInvalidDefaultArgInFrom, model.SeverityLow, "Give the ARG used in FROM a default that forms a valid image reference.", "ARG TAG\nFROM alpine:${TAG}"),
		bk(&linter.RuleFromPlatformFlagConstDisallowed, model.SeverityLow, "Use a platform variable or drop --platform.", "FROM --platform=linux/amd64 alpine:3.20"),
		bk(&linter.RuleExposeProtoCasing, model.SeverityInfo, "Write the protocol in lower case: `EXPOSE 80/tcp`.", "FROM alpine:3.20\nEXPOSE 80/TCP"),
		bk(&linter.RuleExposeInvalidFormat, model.SeverityLow, "EXPOSE only the container port: `EXPOSE 8080`.", "FROM alpine:3.20\nEXPOSE 0.0.0.0:80:80"),
		bk(&linter.RuleInvalidDefinitionDescription, model.SeverityInfo, "Start a stage's or ARG's doc comment with its name (experimental; enable with `# check=experimental=InvalidDefinitionDescription`).", "# check=experimental=InvalidDefinitionDescription\n\n# the builder\nFROM alpine:3.20 AS builder"),
	}
}

// bk registers one of BuildKit's rules with Tollgate's severity and fix hint; its findings come
// from the BuildKit run stored on the dockerfile.
func bk[F any](r *linter.LinterRule[F], sev model.Severity, fix, example string) rule {
	name := r.Name
	return rule{
		Rule:    model.Rule{ID: name, Name: name, Severity: sev, Summary: strings.TrimSuffix(r.Description, ".") + " (BuildKit check).", Fix: fix, URL: r.URL},
		Example: example,
		source:  "buildkit",
		check:   func(df *dockerfile, _ *Options) []hit { return df.buildkit[name] },
	}
}

func needsBuildKit(rules []rule) bool {
	for _, r := range rules {
		if r.source == "buildkit" {
			return true
		}
	}
	return false
}

// runBuildKit runs BuildKit's Dockerfile frontend up to its build plan, collecting the
// warnings of its linter by rule name. It resolves no image: base image configs come from
// offlineResolver. An error BuildKit reports for the file (after Tollgate's parser accepted it)
// is bad input at its line; a panic inside BuildKit is a tool error, never ours to propagate.
func runBuildKit(ctx context.Context, df *dockerfile) (hits map[string][]hit, err error) {
	defer func() {
		if p := recover(); p != nil {
			hits, err = nil, &model.ToolError{Tool: "buildkit-linter", Err: fmt.Errorf("%s: BuildKit linter crashed: %v", df.in.Path, p)}
		}
	}()
	content, errorOnWarn, err := checkDirective(df)
	if err != nil {
		return nil, err
	}
	found := map[string][]hit{} // not the named result: an abandoned frontend may still write to it
	opt := dockerfile2llb.ConvertOpt{
		MetaResolver: offlineResolver{},
		AllStages:    true, // lint every stage, not just the ones the default target needs
		Warn: func(rulename, _, _, msg string, loc []parser.Range) {
			if rulename == linter.RuleSecretsUsedInArgOrEnv.Name || rulename == linter.RuleInvalidBaseImagePlatform.Name {
				return
			}
			h := hit{line: firstLine(loc), msg: msg}
			if errorOnWarn {
				h.atLeast = errorOnWarnSeverity
				h.msg += " (`# check=error=true`: the build fails on it)"
			}
			found[rulename] = append(found[rulename], h)
		},
	}
	opt.BuildArgs = df.buildArgs // the build's ARG values, as the build will see them
	if err := outline(ctx, content, opt); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("lint %s: %w", df.in.Path, ctx.Err())
		}
		// An unresolvable base image is already TG-DF-004; BuildKit's error about it adds nothing.
		if ierr := inputErr(df.in.Path, err, "BuildKit rejects the Dockerfile"); !df.unresolvedBaseAt(ierr) {
			return nil, ierr
		}
	}
	return found, nil
}

// errorOnWarnSeverity is the least severity of a BuildKit finding in a Dockerfile that says
// `# check=error=true`: `docker build` fails on any of them, so they are as blocking as the
// default gate threshold.
const errorOnWarnSeverity = model.SeverityHigh

// checkDirective reads the Dockerfile's `# check=` directive the way BuildKit does. With
// error=true BuildKit turns its warnings into one build error at the end ("lint violation
// found for rules: ..."), which would hide every finding and its line; Tollgate reports the
// findings itself, so it hands BuildKit the file with error=true dropped from the directive (the
// line stays, so lines do not move) and raises the findings instead. A directive BuildKit cannot
// parse is bad input at its line.
func checkDirective(df *dockerfile) (content []byte, errorOnWarn bool, err error) {
	content = df.in.Content
	value, _, loc, ok := parser.ParseDirective("check", content)
	if !ok {
		return content, false, nil
	}
	line := firstLine(loc)
	cfg, err := linter.ParseLintOptions(value)
	if err != nil {
		return nil, false, &model.InputError{File: df.in.Path, Line: line, Err: fmt.Errorf("invalid `# check=` directive: %v", err)}
	}
	if !cfg.ReturnAsError || line < 1 || line > len(df.lines) {
		return content, false, nil
	}
	var keep []string
	for _, part := range strings.SplitN(value, ";", 3) {
		if k, _, _ := strings.Cut(part, "="); strings.TrimSpace(k) != "error" {
			keep = append(keep, part)
		}
	}
	directive := "#"
	if len(keep) > 0 {
		directive = "# check=" + strings.Join(keep, ";")
	}
	lines := strings.Split(string(content), "\n")
	if strings.HasSuffix(lines[line-1], "\r") {
		directive += "\r"
	}
	lines[line-1] = directive
	return []byte(strings.Join(lines, "\n")), true, nil
}

// outline runs BuildKit's frontend but returns as soon as ctx ends: the frontend does not watch
// ctx and its cost grows with the square of the instruction count, so a huge Dockerfile would
// otherwise ignore Ctrl-C and SIGTERM. Warn is only called from the frontend's goroutine; the
// caller reads its hits only after a normal return, so an abandoned run races with nothing.
func outline(ctx context.Context, content []byte, opt dockerfile2llb.ConvertOpt) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{panic: p}
			}
		}()
		_, err := dockerfile2llb.Dockerfile2Outline(ctx, content, opt)
		done <- result{err: err}
	}()
	select {
	case r := <-done:
		if r.panic != nil {
			panic(r.panic) // re-raised here so runBuildKit's recover turns it into a ToolError
		}
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unresolvedBaseAt reports whether err points at a FROM whose base image is unresolved.
func (df *dockerfile) unresolvedBaseAt(err error) bool {
	ie, ok := err.(*model.InputError)
	if !ok {
		return false
	}
	for _, s := range df.stages {
		if s.line == ie.Line && len(s.unset) > 0 {
			return true
		}
	}
	return false
}

// offlineResolver answers BuildKit's base image lookups without a registry: an empty image for
// the requested platform with the conventional PATH. Lint rules that need the real config
// (platform mismatch) are therefore not run.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	cfg := map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		"rootfs":       map[string]any{"type": "layers"},
	}
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		cfg["architecture"], cfg["os"] = opt.ImageOpt.Platform.Architecture, opt.ImageOpt.Platform.OS
		if v := opt.ImageOpt.Platform.Variant; v != "" {
			cfg["variant"] = v
		}
	}
	b, err := json.Marshal(cfg)
	return ref, "", b, err
}
