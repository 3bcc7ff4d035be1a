package lint

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/model"
)

const rootDockerfile = "FROM alpine:3.20\nCMD [\"app\"]\n" // fires TG-DF-010 (HIGH), 002, 060

func parseConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("tollgate.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c
}

func lintWithConfig(t *testing.T, c *config.Config, text string) *model.StageResult {
	t.Helper()
	res, err := Lint(context.Background(), OptionsFrom(c), []Input{{Path: "Dockerfile", Content: []byte(text)}})
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	gate.Apply(res, c, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return res
}

func ruleMeta(res *model.StageResult, id string) (model.Rule, bool) {
	for _, r := range res.Rules {
		if r.ID == id {
			return r, true
		}
	}
	return model.Rule{}, false
}

func TestConfigDefaultGateFailsOnRoot(t *testing.T) {
	res := lintWithConfig(t, config.Default(), rootDockerfile)
	if res.Status != model.StatusFail {
		t.Fatalf("status %s, want fail (root final stage is HIGH):%s", res.Status, dump(res))
	}
}

func TestConfigSeverityOverride(t *testing.T) {
	c := parseConfig(t, "version: 1\nlint:\n  rules:\n    TG-DF-010: {severity: low}\n    tg-df-060: {severity: MEDIUM}\n")
	res := lintWithConfig(t, c, rootDockerfile)
	if fs := findingsOf(res, "TG-DF-010"); len(fs) != 1 || fs[0].Severity != model.SeverityLow {
		t.Fatalf("TG-DF-010 findings %+v, want one at LOW", fs)
	}
	if fs := findingsOf(res, "TG-DF-060"); len(fs) != 1 || fs[0].Severity != model.SeverityMedium {
		t.Fatalf("TG-DF-060 findings %+v, want one at MEDIUM (IDs match case-insensitively)", fs)
	}
	if r, ok := ruleMeta(res, "TG-DF-010"); !ok || r.Severity != model.SeverityLow {
		t.Errorf("rule metadata %+v, want the overridden severity for SARIF", r)
	}
	if res.Status != model.StatusPass {
		t.Errorf("status %s, want pass once the HIGH rule is lowered:%s", res.Status, dump(res))
	}
	// Raising a severity makes the gate fail where it passed.
	c = parseConfig(t, "version: 1\nlint:\n  rules:\n    TG-DF-002: {severity: critical}\n")
	res = lintWithConfig(t, c, "FROM alpine:3.20\nUSER 1\n")
	if res.Status != model.StatusFail {
		t.Errorf("status %s, want fail with TG-DF-002 raised to CRITICAL", res.Status)
	}
}

func TestConfigDisable(t *testing.T) {
	c := parseConfig(t, "version: 1\nlint:\n  rules:\n    TG-DF-010: {disabled: true}\n    JSONArgsRecommended: {disabled: true}\n")
	res := lintWithConfig(t, c, rootDockerfile+"ENTRYPOINT app\n")
	for _, id := range []string{"TG-DF-010", "JSONArgsRecommended"} {
		if got := linesOf(res, id); len(got) != 0 {
			t.Errorf("disabled %s still fired at %v", id, got)
		}
		if _, ok := ruleMeta(res, id); ok {
			t.Errorf("disabled %s still listed in the result's rules", id)
		}
	}
	if got := linesOf(res, "TG-DF-060"); len(got) != 1 {
		t.Errorf("other rules must still run; TG-DF-060 at %v", got)
	}
}

func TestConfigUnknownRule(t *testing.T) {
	c := parseConfig(t, "version: 1\nlint:\n  rules:\n    TG-DF-999: {severity: low}\n")
	_, err := Lint(context.Background(), OptionsFrom(c), []Input{{Path: "Dockerfile", Content: []byte(rootDockerfile)}})
	var ie *model.InputError
	if !errors.As(err, &ie) || ie.File != "tollgate.yaml" || !strings.Contains(err.Error(), `"TG-DF-999"`) {
		t.Fatalf("got %v, want an InputError in tollgate.yaml naming TG-DF-999", err)
	}
	// Even with no Dockerfiles to lint, bad config is reported.
	if _, err := Lint(context.Background(), OptionsFrom(c), nil); !errors.As(err, &ie) {
		t.Fatalf("got %v, want the config error without inputs too", err)
	}
}

func TestConfigBadRegistry(t *testing.T) {
	c := parseConfig(t, "version: 1\nlint:\n  allowed-registries: [\"ghcr.io\", \"\"]\n")
	_, err := Lint(context.Background(), OptionsFrom(c), nil)
	var ie *model.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "allowed-registries") {
		t.Fatalf("got %v, want an InputError about lint.allowed-registries", err)
	}
}

func TestConfigBadSeverityIsConfigError(t *testing.T) {
	_, err := config.Parse("tollgate.yaml", []byte("version: 1\nlint:\n  rules:\n    TG-DF-010: {severity: urgent}\n"))
	var ie *model.InputError
	if !errors.As(err, &ie) || ie.Line != 4 {
		t.Fatalf("got %v, want an InputError at tollgate.yaml:4", err)
	}
}

func TestAllowedRegistriesFromConfig(t *testing.T) {
	c := parseConfig(t, "version: 1\nlint:\n  allowed-registries: [ghcr.io/acme]\n")
	res := lintWithConfig(t, c, "FROM ghcr.io/acme/base:1 AS a\nFROM alpine:3.20\nUSER 1\n")
	if got := linesOf(res, "TG-DF-003"); len(got) != 1 || got[0] != 2 {
		t.Fatalf("TG-DF-003 at %v, want [2]%s", got, dump(res))
	}
	if res.Status != model.StatusFail {
		t.Errorf("status %s, want fail for an image from a registry outside the allow-list", res.Status)
	}
}

// Inline ignores keep the finding, mark it suppressed with the reason, and the gate skips it.
func TestInlineIgnore(t *testing.T) {
	res := lintFixture(t, "inline-ignore", Options{})
	want := map[string]struct {
		line   int
		reason string
	}{
		"TG-DF-001": {2, "throwaway test image, never shipped"},
		"TG-DF-010": {2, "throwaway test image, never shipped"},
		"TG-DF-033": {5, "cache kept on purpose for the dev image"},
	}
	for id, w := range want {
		fs := findingsOf(res, id)
		if len(fs) != 1 || fs[0].Location.Line != w.line {
			t.Fatalf("%s findings %+v, want one at line %d", id, fs, w.line)
		}
		if s := fs[0].Suppression; s == nil || s.Kind != "inline" || s.Reason != w.reason {
			t.Errorf("%s suppression %+v, want inline %q", id, s, w.reason)
		}
	}
	if fs := findingsOf(res, "TG-DF-002"); len(fs) != 1 || fs[0].Suppression != nil {
		t.Errorf("TG-DF-002 is not named in the comment and must stay active: %+v", fs)
	}
	gate.Apply(res, config.Default(), time.Now())
	if res.Status != model.StatusPass {
		t.Errorf("status %s, want pass: the HIGH findings are suppressed inline:%s", res.Status, dump(res))
	}
	// Without the comments the same file fails.
	res = lintText(t, "FROM alpine\nRUN apk add curl\n", nil, Options{})
	gate.Apply(res, config.Default(), time.Now())
	if res.Status != model.StatusFail {
		t.Errorf("status %s, want fail without the ignore comments", res.Status)
	}
}

// An ignore comment only covers the instruction right below its comment block.
func TestInlineIgnoreScope(t *testing.T) {
	text := "# tollgate:ignore=TG-DF-001 pinned elsewhere\n\nFROM alpine\nUSER 1\n"
	res := lintText(t, text, nil, Options{})
	if fs := findingsOf(res, "TG-DF-001"); len(fs) != 1 || fs[0].Suppression != nil {
		t.Errorf("a blank line separates the comment from FROM, so it must not apply: %+v", fs)
	}
	// On a multi-line RUN the finding points at the exact line but the comment above the RUN applies.
	text = "FROM alpine:3.20\n# tollgate:ignore=TG-DF-030 vendor installer, checksum pinned upstream\nRUN apk add --no-cache curl \\\n && curl -fsSL https://x.example/i | sh\nUSER 1\n"
	res = lintText(t, text, nil, Options{})
	if fs := findingsOf(res, "TG-DF-030"); len(fs) != 1 || fs[0].Location.Line != 4 || fs[0].Suppression == nil {
		t.Errorf("TG-DF-030 %+v, want line 4, suppressed", fs)
	}
}

// BuildKit rules are ignored inline by their name, and BuildKit's own `# check=skip=` works too.
func TestBuildKitRuleIgnores(t *testing.T) {
	res := lintText(t, "FROM alpine:3.20\nUSER 1\n# tollgate:ignore=JSONArgsRecommended signals handled by tini\nCMD app --serve\n", nil, Options{})
	if fs := findingsOf(res, "JSONArgsRecommended"); len(fs) != 1 || fs[0].Location.Line != 4 || fs[0].Suppression == nil {
		t.Errorf("JSONArgsRecommended %+v, want one at line 4, suppressed inline", fs)
	}
	res = lintText(t, "# check=skip=JSONArgsRecommended\nFROM alpine:3.20\nUSER 1\nCMD app --serve\n", nil, Options{})
	if got := linesOf(res, "JSONArgsRecommended"); len(got) != 0 {
		t.Errorf("JSONArgsRecommended at %v despite # check=skip", got)
	}
}
