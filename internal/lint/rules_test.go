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
		{"tg-df-050-builder-copies", Options{}, map[string][]int{"TG-DF-050": {10}}},
		{"tg-df-030-powershell", Options{}, map[string][]int{"TG-DF-030": {4, 5, 7}, "TG-DF-036": {}}},
		{"tg-df-035-apt-update-alone", Options{}, map[string][]int{"TG-DF-035": {2, 6}}},
		{"tg-df-036-download-unverified", Options{}, map[string][]int{"TG-DF-036": {2, 5, 6, 7, 15}, "TG-DF-030": {13}}},
		{"onbuild-triggers", Options{}, map[string][]int{
			"TG-DF-030": {3}, "TG-DF-020": {4}, "TG-DF-041": {5}, "TG-DF-040": {6}, "TG-DF-035": {7}, "TG-DF-036": {8},
			"TG-DF-050": {}, "TG-DF-010": {}, // ONBUILD COPY . and USER act in the downstream build
		}},
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
		// Quotes in ARG values and FROM are shell quotes, removed before the reference is read
		// (the official Jenkins image writes its base this way).
		{"TG-DF-004", "ARG LINE=trixie\nARG VARIANT=\"-slim\"\nFROM debian:\"${LINE}${VARIANT}\"\nUSER 1\n", nil, Options{}},
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
		// A builder's context copy whose files never reach the final image.
		{"TG-DF-050", "FROM golang:1.22 AS build\nWORKDIR /src\nCOPY . .\nRUN go build -o /out/app .\nFROM scratch\nCOPY --from=build /out/app /app\nUSER 1\n", nil, Options{}},
		{"TG-DF-050", "FROM node:20 AS build\nWORKDIR /app\nCOPY . .\nRUN npm run build\nFROM nginx:1.27\nCOPY --from=build /app/dist /usr/share/nginx/html\nUSER 101\n", nil, Options{}},
		{"TG-DF-050", "FROM node:20 AS a\nCOPY . /src\nFROM node:20 AS b\nCOPY --from=a /src/bin /bin2\nFROM node:20\nCOPY --from=b /bin2 /app\nUSER node\n", nil, Options{}},
		{"TG-DF-050", "FROM node:20\nCOPY --exclude=.git --exclude=.env* . /app\nUSER node\n", nil, Options{}},
		{"TG-DF-050", "FROM node:20\nONBUILD COPY . /app\nUSER node\n", nil, Options{}},
		{"TG-DF-035", "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n" +
			"RUN apt-get update \\\n && apt-get -y dist-upgrade && rm -rf /var/lib/apt/lists/*\nRUN echo apt-get updated\nUSER 1\n", nil, Options{}},
		{"TG-DF-036", "FROM alpine:3.20\n" +
			"RUN apk add --no-cache curl wget ca-certificates\n" +
			"RUN curl -fsSLo go.tgz https://go.dev/dl/go1.22.5.linux-amd64.tar.gz && echo \"$GO_SHA256 *go.tgz\" | sha256sum --strict --check -\n" +
			"RUN wget -O node.tar.xz https://nodejs.org/dist/v20/node.tar.xz && wget -O SHASUMS256.txt.asc https://nodejs.org/dist/v20/SHASUMS256.txt.asc && gpg --batch --decrypt --output SHASUMS256.txt SHASUMS256.txt.asc && grep node.tar.xz SHASUMS256.txt | sha256sum -c -\n" +
			"RUN curl -sSLo tool https://example.com/tool && [ \"$(sha256sum tool | cut -d' ' -f1)\" = \"$TOOL_SHA\" ]\n" +
			"RUN curl -sSL -o cosign https://example.com/cosign && curl -sSLO https://example.com/tool.tgz && ./cosign verify-blob --key k.pub --signature tool.tgz.sig tool.tgz\n" +
			"RUN curl -fsS http://localhost:8080/health -o /tmp/health\n" +
			"RUN curl -fsSL https://api.github.com/repos/x/y/releases/latest | jq -r .tag_name > /tmp/version && curl -o /dev/null -w '%{http_code}' https://example.com\n" +
			"RUN VERSION=$(curl -fsSL https://example.com/version) && echo $VERSION\n" +
			"RUN wget --spider https://example.com/ && wget -qO- https://example.com/x | grep -q ok\n" +
			"RUN curl -XPOST https://hooks.example.com/built\n" +
			"RUN curl -fsSLo /etc/apt/keyrings/docker.asc https://download.docker.com/linux/debian/gpg && curl -fsSL https://packages.example.com/prod.list | tee /etc/apt/sources.list.d/example.list\n" +
			"RUN wget -q https://example.com/SHASUMS256.txt https://example.com/SHASUMS256.txt.asc\n" +
			"USER 1\n", nil, Options{}},
		// Verified in a later RUN that names the file (the official Jenkins image's pattern).
		{"TG-DF-036", "FROM alpine:3.20\nRUN curl -fsSLo /war/jenkins.war https://get.jenkins.io/war/2.5/jenkins.war && curl -fsSLo /war/jenkins.war.asc https://get.jenkins.io/war/2.5/jenkins.war.asc\n" +
			"COPY jenkins.pub /war/\nRUN gpgv --keyring /war/jenkins.pub /war/jenkins.war.asc /war/jenkins.war\nUSER 1\n", nil, Options{}},
		{"TG-DF-036", "# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nSHELL [\"powershell\", \"-Command\"]\n" +
			"RUN Invoke-WebRequest -OutFile C:\\tool.zip https://example.com/tool.zip; `\n    if ((Get-FileHash C:\\tool.zip -Algorithm SHA256).Hash -ne $env:TOOL_SHA256) { exit 1 }\nUSER ContainerUser\n", nil, Options{}},
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

// TG-DF-050 judges a builder's context copy by what the final stage takes from it.
func TestCopyContextFollowsWhatShips(t *testing.T) {
	weak := ".git\nnode_modules\n" // lets .env in
	cases := []struct {
		name     string
		text     string
		ignore   *string
		wantLine int      // 0: must not fire
		wantMsg  []string // substrings of the message
	}{
		{"final copies the builder's tree", "FROM node:20 AS build\nWORKDIR /app\nCOPY . .\nRUN npm run build\nFROM node:20-slim\nCOPY --from=build /app /app\nUSER node\n",
			nil, 3, []string{`into stage "build"`, ".git and .env reach the final image through COPY --from=build at line 6"}},
		{"final copies only the binary", "FROM golang:1.22 AS build\nWORKDIR /src\nCOPY . .\nFROM scratch\nCOPY --from=build /src/app /app\nUSER 1\n", nil, 0, nil},
		{"final copies the whole builder filesystem", "FROM golang:1.22 AS build\nCOPY . /src\nFROM scratch\nCOPY --from=build / /\nUSER 1\n", nil, 2, []string{"COPY --from=build at line 4"}},
		{"glob that matches .git", "FROM node:20 AS build\nCOPY . /app\nFROM node:20\nCOPY --from=build /app/* /srv/\nUSER node\n", nil, 2, []string{"through COPY --from=build"}},
		{"glob that does not", "FROM node:20 AS build\nCOPY . /app\nFROM node:20\nCOPY --from=build /app/*.js /srv/\nUSER node\n", nil, 0, nil},
		{"by stage index", "FROM node:20\nCOPY . /app\nFROM node:20\nCOPY --from=0 /app /app\nUSER node\n", nil, 2, []string{"COPY --from=0 at line 4", "into stage 0 (line 1)"}},
		{"chain of stages", "FROM node:20 AS a\nCOPY . /src\nFROM node:20 AS b\nCOPY --from=a /src /work\nFROM node:20\nCOPY --from=b /work /app\nUSER node\n",
			nil, 2, []string{"COPY --from=a at line 4, then COPY --from=b at line 6"}},
		{"chain broken in the middle", "FROM node:20 AS a\nCOPY . /src\nFROM node:20 AS b\nCOPY --from=a /src/dist /work\nFROM node:20\nCOPY --from=b /work /app\nUSER node\n", nil, 0, nil},
		{"final built FROM the builder", "FROM node:20 AS build\nWORKDIR /app\nCOPY . .\nFROM build\nUSER node\n", nil, 3, []string{"copies the whole build context and there is no .dockerignore"}},
		{"workdir from ENV", "FROM node:20 AS build\nENV APP=/app\nWORKDIR $APP\nCOPY . .\nFROM node:20\nCOPY --from=build /app /app\nUSER node\n", nil, 4, []string{"through COPY --from=build at line 6"}},
		{"workdir from an unknown variable", "FROM golang:1.22 AS build\nWORKDIR $GOPATH/src/app\nCOPY . .\nFROM scratch\nCOPY --from=build /go/bin/app /app\nUSER 1\n", nil, 0, nil},
		{"only .env ships", "FROM node:20 AS build\nWORKDIR /app\nCOPY . .\nFROM node:20\nCOPY --from=build /app/.env /app/.env\nUSER node\n", nil, 3, []string{"; .env reaches the final image"}},
		{"only .env missing from .dockerignore", "FROM node:20 AS build\nWORKDIR /app\nCOPY . .\nFROM node:20\nCOPY --from=build /app /app\nUSER node\n", &weak, 3, []string{".dockerignore does not exclude .env", "; .env reaches"}},
		{"excluded on the way", "FROM node:20 AS build\nWORKDIR /app\nCOPY . .\nFROM node:20\nCOPY --from=build --exclude=.git --exclude=.env /app /app\nUSER node\n", nil, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := lintText(t, c.text, c.ignore, Options{})
			fs := findingsOf(res, "TG-DF-050")
			if c.wantLine == 0 {
				if len(fs) > 0 {
					t.Fatalf("fired on a builder whose context does not ship:%s", dump(res))
				}
				return
			}
			if len(fs) != 1 || fs[0].Location.Line != c.wantLine {
				t.Fatalf("want one finding at line %d, got%s", c.wantLine, dump(res))
			}
			for _, w := range c.wantMsg {
				if !strings.Contains(fs[0].Message, w) {
					t.Errorf("message %q lacks %q", fs[0].Message, w)
				}
			}
		})
	}
}
