package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/distribution/reference"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Base image rules apply to every stage: a builder image shapes what ends up in the final one.
func baseImageRules() []rule {
	return []rule{
		newRule("TG-DF-001", "base-image-latest", model.SeverityHigh,
			"A base image without a tag, or tagged :latest, changes under you: builds stop being reproducible and can pick up breaking or malicious changes.",
			"Use a specific version tag (and pin its digest), e.g. `FROM alpine:3.20@sha256:...`.",
			"FROM python:latest",
			checkBase(func(b baseRef, _ *Options) string {
				if b.digested {
					return ""
				}
				if !b.tagged {
					return fmt.Sprintf("base image %q has no tag, so it means :latest", b.raw)
				}
				if b.tag == "latest" {
					return fmt.Sprintf("base image %q uses the mutable :latest tag", b.raw)
				}
				return ""
			})),
		newRule("TG-DF-002", "base-image-no-digest", model.SeverityLow,
			"A tag can be moved to a different image; only a digest pins exactly what you tested.",
			"Append the digest of the tested image: `FROM alpine:3.20@sha256:<digest>` (a bot such as Renovate keeps it fresh).",
			"FROM alpine:3.20",
			checkBase(func(b baseRef, _ *Options) string {
				if b.digested {
					return ""
				}
				return fmt.Sprintf("base image %q is not pinned by digest", b.raw)
			})),
		newRule("TG-DF-003", "base-image-registry", model.SeverityHigh,
			"Base images must come from registries the organisation trusts (lint.allowed-registries).",
			"Pull the image through an allowed registry or mirror, or add the registry to lint.allowed-registries in tollgate.yaml.",
			"# lint.allowed-registries: [registry.example.com]\nFROM docker.io/library/alpine:3.20",
			checkBase(func(b baseRef, o *Options) string {
				if len(o.AllowedRegistries) == 0 || registryAllowed(b.name, o.AllowedRegistries) {
					return ""
				}
				return fmt.Sprintf("base image %q comes from %s, which is not in lint.allowed-registries (%s)",
					b.raw, reference.Domain(b.named), strings.Join(o.AllowedRegistries, ", "))
			})),
		newRule("TG-DF-004", "base-image-unresolved", model.SeverityMedium,
			"A base image that depends on a build argument without a default (or is not a valid reference) cannot be checked and can be swapped at build time.",
			"Give the ARG before the first FROM a default with a pinned image, e.g. `ARG BASE=alpine:3.20@sha256:...`.",
			"ARG BASE\nFROM ${BASE}",
			checkUnresolvedBase),
	}
}

// baseRef is a stage's base image, parsed.
type baseRef struct {
	raw      string // after ARG substitution
	named    reference.Named
	name     string // fully qualified repository, e.g. docker.io/library/alpine
	tag      string
	tagged   bool
	digested bool
}

// baseOf parses the stage's base image; ok is false for scratch, earlier stages and
// references that cannot be resolved (TG-DF-004 reports those).
func baseOf(s *buildStage) (baseRef, bool) {
	if !s.external() || s.base == "" {
		return baseRef{}, false
	}
	named, err := reference.ParseNormalizedNamed(s.base)
	if err != nil {
		return baseRef{}, false
	}
	b := baseRef{raw: s.base, named: named, name: named.Name()}
	if t, ok := named.(reference.Tagged); ok {
		b.tag, b.tagged = t.Tag(), true
	}
	if _, ok := named.(reference.Digested); ok {
		b.digested = true
	}
	return b, true
}

func checkBase(msg func(baseRef, *Options) string) func(*dockerfile, *Options) []hit {
	return func(df *dockerfile, o *Options) []hit {
		var hs []hit
		for _, s := range df.stages {
			b, ok := baseOf(s)
			if !ok {
				continue
			}
			if m := msg(b, o); m != "" {
				hs = append(hs, hit{line: s.line, msg: m, resource: b.raw})
			}
		}
		return hs
	}
}

func checkUnresolvedBase(df *dockerfile, _ *Options) []hit {
	var hs []hit
	for _, s := range df.stages {
		if !s.external() {
			continue
		}
		_, err := reference.ParseNormalizedNamed(s.base)
		switch {
		case err == nil:
			continue
		case len(s.unset) > 0:
			unset := append([]string(nil), s.unset...)
			sort.Strings(unset)
			hs = append(hs, hit{line: s.line, resource: s.rawBase,
				msg: fmt.Sprintf("base image %q depends on build argument(s) %s with no default", s.rawBase, strings.Join(unset, ", "))})
		default:
			hs = append(hs, hit{line: s.line, resource: s.rawBase,
				msg: fmt.Sprintf("base image %q is not a valid image reference: %v", s.base, err)})
		}
	}
	return hs
}

// registryAllowed matches a repository against allow-list entries: a registry host
// ("ghcr.io") or a host/path prefix ("ghcr.io/acme"). Docker Hub's aliases mean docker.io.
func registryAllowed(name string, allowed []string) bool {
	for _, a := range allowed {
		a = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(a)), "/")
		for _, alias := range []string{"index.docker.io", "registry-1.docker.io"} {
			if a == alias || strings.HasPrefix(a, alias+"/") {
				a = "docker.io" + strings.TrimPrefix(a, alias)
			}
		}
		if name == a || strings.HasPrefix(name, a+"/") {
			return true
		}
	}
	return false
}
