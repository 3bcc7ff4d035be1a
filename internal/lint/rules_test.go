package lint

import (
	"slices"
	"strings"
	"testing"
)

// Every rule fires on its fixture at exactly the expected lines (and not on the lines beside
// them that look similar but are fine).
func TestRulesFire(t *testing.T) {
	cases := []struct {
		fixture string
		opts    Options
		want    map[string][]int // rule -> lines; [] means the rule must not fire
	}{
		{"tg-df-001-latest", Options{}, map[string][]int{"TG-DF-001": {4, 9}}},
		{"tg-df-002-no-digest", Options{}, map[string][]int{"TG-DF-002": {2}, "TG-DF-001": {}}},
		{"tg-df-003-registry", Options{AllowedRegistries: []string{"ghcr.io/acme", "registry.example.com"}}, map[string][]int{"TG-DF-003": {2, 3}}},
		{"tg-df-004-unresolved-base", Options{}, map[string][]int{"TG-DF-004": {4}, "TG-DF-001": {}, "TG-DF-002": {3}}},
		{"tg-df-010-root-final", Options{}, map[string][]int{"TG-DF-010": {8}}},
		{"tg-df-010-no-user", Options{}, map[string][]int{"TG-DF-010": {4}}},
		{"tg-df-010-inherited", Options{}, map[string][]int{"TG-DF-010": {2}}},
		{"tg-df-011-sudo", Options{}, map[string][]int{"TG-DF-011": {6}, "TG-DF-031": {}, "TG-DF-032": {}}},
		{"tg-df-020-add-url", Options{}, map[string][]int{"TG-DF-020": {2}, "TG-DF-021": {}}},
		{"tg-df-021-add-local", Options{}, map[string][]int{"TG-DF-021": {2}, "TG-DF-020": {}}},
		{"tg-df-030-pipe-to-shell", Options{}, map[string][]int{"TG-DF-030": {3, 4, 5}}},
		{"tg-df-031-apt-recommends", Options{}, map[string][]int{"TG-DF-031": {3}, "TG-DF-032": {}}},
		{"tg-df-032-apt-lists", Options{}, map[string][]int{"TG-DF-032": {2}, "TG-DF-031": {}}},
		{"tg-df-033-apk-no-cache", Options{}, map[string][]int{"TG-DF-033": {2}}},
		{"tg-df-034-yum-no-clean", Options{}, map[string][]int{"TG-DF-034": {2}}},
		{"tg-df-040-secret-name", Options{}, map[string][]int{"TG-DF-040": {1, 3, 4}, "TG-DF-041": {}}},
		{"tg-df-041-secret-value", Options{}, map[string][]int{"TG-DF-041": {2, 3, 4}, "TG-DF-040": {}}},
		{"tg-df-050-no-dockerignore", Options{}, map[string][]int{"TG-DF-050": {4}}},
		{"tg-df-050-weak-dockerignore", Options{}, map[string][]int{"TG-DF-050": {2}}},
		{"tg-df-060-no-healthcheck", Options{}, map[string][]int{"TG-DF-060": {4}}},
		{"tg-df-090-bad-ignore", Options{}, map[string][]int{"TG-DF-090": {2, 4, 6}, "TG-DF-033": {3, 5}}},
		{"buildkit-checks", Options{}, map[string][]int{
			"StageNameCasing": {1}, "FromAsCasing": {1}, "WorkdirRelativePath": {2},
			"MaintainerDeprecated": {3}, "ConsistentInstructionCasing": {3}, "JSONArgsRecommended": {6},
		}},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			res := lintFixture(t, c.fixture, c.opts)
			for id, want := range c.want {
				if got := linesOf(res, id); !slices.Equal(got, want) {
					t.Errorf("%s fired at lines %v, want %v; findings:%s", id, got, want, dump(res))
				}
			}
			for _, f := range res.Findings {
				if f.Location.File != c.fixture+"/Dockerfile" || f.Location.Line < 1 {
					t.Errorf("finding %s has location %+v, want %s/Dockerfile and a line", f.RuleID, f.Location, c.fixture)
				}
			}
		})
	}
}

// Every Tollgate rule stays quiet on a Dockerfile that does the right thing.
func TestRulesDoNotFire(t *testing.T) {
	const sha = "sha256:2c1a9e8a4f3b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
	good := ".git\n.env*\nnode_modules\n"
	cases := []struct {
		rule   string
		text   string
		ignore *string
		opts   Options
	}{
		{"TG-DF-001", "FROM alpine:3.20\nFROM alpine@" + sha + " AS pinned\nFROM scratch AS empty\nFROM pinned\nUSER 1\n", nil, Options{}},
		{"TG-DF-002", "FROM alpine:3.20@" + sha + "\nFROM scratch\nUSER 1\n", nil, Options{}},
		{"TG-DF-003", "FROM alpine:3.20 AS a\nFROM ghcr.io/acme/tool:1 AS b\nFROM a\nUSER 1\n", nil,
			Options{AllowedRegistries: []string{"index.docker.io", "ghcr.io/acme/"}}},
		{"TG-DF-003", "FROM quay.io/x/y:1\nUSER 1\n", nil, Options{}}, // no allow-list: any registry
		{"TG-DF-004", "ARG BASE=alpine:3.20\nARG TAG=3.20\nFROM ${BASE} AS a\nFROM alpine:${TAG}\nUSER 1\n", nil, Options{}},
		{"TG-DF-010", "FROM golang:1.22 AS build\nUSER root\nFROM alpine:3.20\nUSER root\nRUN apk add --no-cache curl\nUSER 10001:10001\n", nil, Options{}},
		{"TG-DF-010", "FROM alpine:3.20 AS base\nUSER app\nFROM base\nCMD [\"app\"]\n", nil, Options{}},
		{"TG-DF-010", "FROM alpine:3.20\nARG UID=10001\nUSER ${UID}\n", nil, Options{}},
		{"TG-DF-011", "FROM alpine:3.20\nRUN echo pseudo-sudo && apk add --no-cache sudo-ldap-docs\nUSER 1\n", nil, Options{}},
		{"TG-DF-020", "FROM alpine:3.20\nADD --checksum=" + sha + " https://example.com/a.tgz /opt/\nUSER 1\n", nil, Options{}},
		{"TG-DF-021", "FROM alpine:3.20\nADD rootfs.tar.xz /\nADD https://example.com/a /a\nCOPY app /app\nUSER 1\n", nil, Options{}},
		{"TG-DF-030", "FROM alpine:3.20\nRUN curl -fsSLo i.sh https://x.example/i.sh && echo \"abc  i.sh\" | sha256sum -c - && sh i.sh\nRUN curl -fsSL https://x.example/a.tgz | tar xz\nUSER 1\n", nil, Options{}},
		{"TG-DF-031", "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\nUSER 1\n", nil, Options{}},
		{"TG-DF-031", "FROM debian:12 AS build\nRUN apt-get update && apt-get install -y gcc\nFROM debian:12\nUSER 1\n", nil, Options{}}, // builder only
		{"TG-DF-032", "FROM debian:12\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends curl \\\n && rm -rf /var/lib/apt/lists/*\nUSER 1\n", nil, Options{}},
		{"TG-DF-033", "FROM alpine:3.20\nRUN apk add --no-cache curl\nRUN --mount=type=cache,target=/var/cache/apk apk add git\nUSER 1\n", nil, Options{}},
		{"TG-DF-034", "FROM rockylinux:9\nRUN yum install -y httpd && yum clean all\nRUN dnf -y install git && rm -rf /var/cache/dnf\nUSER 1\n", nil, Options{}},
		{"TG-DF-040", "FROM alpine:3.20\nENV GPG_KEY=ABCDEF PASSWORD_FILE=/run/secrets/db TOKEN_URL=https://auth.example/token\nARG PUBLIC_KEY\nENV API_TOKEN=\"\"\nUSER 1\n", nil, Options{}},
		{"TG-DF-041", "FROM alpine:3.20\nENV APP_VERSION=1.2.3 DATABASE_URL=postgres://db:5432/app PASSWORD_FILE=/run/secrets/pw\nUSER 1\n", nil, Options{}},
		{"TG-DF-050", "FROM node:20\nCOPY . /app\nUSER node\n", &good, Options{}},
		{"TG-DF-050", "FROM node:20 AS build\nFROM node:20\nCOPY --from=build . /app\nCOPY package.json /app/\nUSER node\n", nil, Options{}},
		{"TG-DF-060", "FROM alpine:3.20\nUSER 1\nHEALTHCHECK NONE\n", nil, Options{}},
		{"TG-DF-060", "FROM alpine:3.20 AS base\nHEALTHCHECK CMD [\"/app\", \"-health\"]\nFROM base\nUSER 1\n", nil, Options{}},
		{"TG-DF-090", "FROM alpine:3.20\n# tollgate:ignore=TG-DF-033 dev image keeps the index\nRUN apk add curl\nUSER 1\n", nil, Options{}},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.rule] = true
		res := lintText(t, c.text, c.ignore, c.opts)
		if got := linesOf(res, c.rule); len(got) > 0 {
			t.Errorf("%s fired at %v on a good Dockerfile:\n%s\nfindings:%s", c.rule, got, c.text, dump(res))
		}
	}
	for _, r := range allRules() {
		if r.source == "tollgate" && !covered[r.ID] {
			t.Errorf("rule %s has no does-not-fire case", r.ID)
		}
	}
}

// Each rule's documented example really triggers it, so docs/rules.md does not lie.
func TestRuleExamplesFire(t *testing.T) {
	opts := Options{AllowedRegistries: []string{"registry.example.com"}}
	for _, r := range allRules() {
		t.Run(r.ID, func(t *testing.T) {
			res := lintText(t, r.Example+"\n", nil, opts)
			if len(linesOf(res, r.ID)) == 0 {
				t.Errorf("example of %s does not fire it:\n%s\nfindings:%s", r.ID, r.Example, dump(res))
			}
		})
	}
}

// Findings about secrets never repeat the secret.
func TestSecretValuesNotReported(t *testing.T) {
	res := lintFixture(t, "tg-df-041-secret-value", Options{})
	for _, f := range res.Findings {
		for _, secret := range []string{"hunter2", "AKIAIOSFODNN7EXAMPLE", "s3cret"} {
			if strings.Contains(f.Message, secret) || strings.Contains(f.Location.Resource, secret) {
				t.Errorf("finding %s leaks %q: %s", f.RuleID, secret, f.Message)
			}
		}
	}
}

func TestRuleMetadata(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			t.Errorf("duplicate rule ID %s", r.ID)
		}
		seen[r.ID] = true
		if r.Name == "" || r.Summary == "" || r.Fix == "" || r.URL == "" || r.Severity == 0 {
			t.Errorf("rule %s lacks metadata: %+v", r.ID, r)
		}
	}
	if len(seen) < 20 {
		t.Errorf("only %d rules registered", len(seen))
	}
}
