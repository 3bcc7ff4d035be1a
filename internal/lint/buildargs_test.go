package lint

import (
	"strings"
	"testing"
)

// TestLintSeesTheBuildsArgs: lint resolves ARGs with build.build-args, the values the build
// uses, so a base image chosen by a build arg is checked as the image the build will pull.
func TestLintSeesTheBuildsArgs(t *testing.T) {
	const df = "ARG BASE=docker.io/library/alpine:3.20\nFROM ${BASE}\nUSER 10001\nCMD [\"app\"]\n"
	allowed := "lint:\n  allowed-registries: [docker.io]\n"
	find := func(yaml string) string {
		res := lintWithConfig(t, parseConfig(t, yaml), df)
		var msgs []string
		for _, f := range res.Findings {
			if strings.Contains(f.Message, "allowed-registries") {
				msgs = append(msgs, f.Message)
			}
		}
		return strings.Join(msgs, "\n")
	}
	if got := find(allowed); got != "" {
		t.Fatalf("default ARG is an allowed registry, yet: %s", got)
	}
	got := find(allowed + "build:\n  build-args: {BASE: evil.example.com/alpine:3.20}\n")
	if !strings.Contains(got, "evil.example.com") {
		t.Errorf("the build arg did not reach the lint: %q", got)
	}
}
