package lint

import (
	"bytes"
	"fmt"
	"strings"
)

// RulesMarkdown renders docs/rules.md from the registry, so the docs cannot drift from the code
// (a test compares the file with this output).
func RulesMarkdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Dockerfile lint rules\n\n")
	b.WriteString("<!-- Generated from internal/lint (RulesMarkdown). Do not edit: run\n")
	b.WriteString("     `UPDATE_GOLDEN=1 go test ./internal/lint -run TestRulesDoc` after changing a rule. -->\n\n")
	b.WriteString("`tollgate lint` checks Dockerfiles with BuildKit's own parser and linter plus Tollgate's\n")
	b.WriteString("security rules. Rules about the shipped image (user, package caches, healthcheck, sudo) look at\n")
	b.WriteString("the final stage and the stages it is built `FROM`; TG-DF-050 follows the build context's files\n")
	b.WriteString("through `COPY --from` into the final stage; the others apply to every stage. `ONBUILD` triggers\n")
	b.WriteString("(`ONBUILD RUN`, `ONBUILD ADD`, `ONBUILD ENV`...) are checked like the instructions they become in\n")
	b.WriteString("every build `FROM` the image, under the same rule IDs, at the `ONBUILD` line.\n\n")
	b.WriteString("Change a rule's severity or turn it off in `tollgate.yaml`:\n\n")
	b.WriteString("```yaml\nlint:\n  allowed-registries: [ghcr.io/acme, docker.io/library]\n  rules:\n    TG-DF-002: {severity: MEDIUM}\n    TG-DF-060: {disabled: true}\n```\n\n")
	b.WriteString("Silence one finding with a comment directly above the instruction (the reason is required;\n")
	b.WriteString("the finding stays in reports as suppressed):\n\n")
	b.WriteString("```dockerfile\n# tollgate:ignore=TG-DF-001,TG-DF-002 internal base, rebuilt nightly\nFROM registry.example.com/base\n```\n\n")
	b.WriteString("| ID | Name | Severity | Rationale |\n|---|---|---|---|\n")
	rules := allRules()
	for _, r := range rules {
		id := r.ID
		if r.source == "tollgate" {
			id = fmt.Sprintf("[%s](#%s)", r.ID, strings.ToLower(r.ID))
		} else {
			id = fmt.Sprintf("[%s](%s)", r.ID, r.URL)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", id, r.Name, r.Severity, strings.ReplaceAll(r.Summary, "|", "\\|"))
	}
	b.WriteString("\n## Tollgate rules\n")
	for _, r := range rules {
		if r.source != "tollgate" {
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n", r.ID)
		fmt.Fprintf(&b, "**%s** · default severity **%s**\n\n", r.Name, r.Severity)
		fmt.Fprintf(&b, "%s\n\n", r.Summary)
		fmt.Fprintf(&b, "Fix: %s\n\n", r.Fix)
		fmt.Fprintf(&b, "Example that fires:\n\n```dockerfile\n%s\n```\n", r.Example)
	}
	b.WriteString("\n## BuildKit rules\n\n")
	b.WriteString("These are BuildKit's own checks (`docker build --check`), reported under their BuildKit names;\n")
	b.WriteString("`# check=skip=NAME` in the Dockerfile turns one off just as it does for Docker. Tollgate leaves\n")
	b.WriteString("out SecretsUsedInArgOrEnv (TG-DF-040/041 cover it) and InvalidBaseImagePlatform (it needs the\n")
	b.WriteString("base image's config from a registry, which linting never fetches).\n\n")
	b.WriteString("A Dockerfile that starts with `# check=error=true` asks `docker build` to fail on any of these\n")
	b.WriteString("checks. Tollgate still reports each one as a finding at its line, and raises it to at least\n")
	fmt.Fprintf(&b, "**%s** (the default gate threshold), since the build would fail on it; `# check=skip=NAME`\n", errorOnWarnSeverity)
	b.WriteString("and `lint.rules` (`disabled`, or a higher `severity`) still apply. Tollgate's own rules are not\n")
	b.WriteString("affected by the directive.\n")
	for _, r := range rules {
		if r.source != "buildkit" {
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n", r.ID)
		fmt.Fprintf(&b, "Default severity **%s**. %s See %s.\n\n", r.Severity, r.Summary, r.URL)
		fmt.Fprintf(&b, "Fix: %s\n\n", r.Fix)
		fmt.Fprintf(&b, "Example that fires:\n\n```dockerfile\n%s\n```\n", r.Example)
	}
	return b.Bytes()
}
