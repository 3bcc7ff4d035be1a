package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestPolicyDefaults(t *testing.T) {
	c := Default()
	p := c.Policy
	if len(p.Paths) != 0 || !p.DefaultLibraryOn() || p.PodSecurity.Level != "restricted" || p.PodSecurity.Version != "latest" ||
		p.PodSecurity.Severity != model.SeverityHigh || p.DefaultNamespace != "default" || p.TimeoutDuration() != 5*time.Minute {
		t.Fatalf("defaults = %+v", p)
	}
	if c.FailOn("policy") != model.SeverityHigh {
		t.Fatalf("fail-on = %s", c.FailOn("policy"))
	}
	if !KnownStage("policy") || strings.Join(StageNames(), ",") != "build,lint,validate,score,policy,sbom,scan,push,sign,attest,verify,deploy" {
		t.Fatalf("stages = %v", StageNames())
	}
}

func TestPolicySection(t *testing.T) {
	c, err := Parse("tollgate.yaml", []byte(`version: 1
policy:
  paths: [security]
  manifests: [deploy]
  default-library: false
  disabled: [tg-probes]
  constraints:
    tg-allowed-registries:
      enforcement-action: warn
      parameters: {registries: [ghcr.io/acme]}
      severity: MEDIUM
  pod-security: {level: baseline, version: v1.30, severity: CRITICAL}
  fail-on: MEDIUM
  default-namespace: apps
  timeout: 90s
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policy
	ov := p.Constraints["tg-allowed-registries"]
	if p.Paths[0] != "security" || p.Manifests[0] != "deploy" || p.DefaultLibraryOn() || p.Disabled[0] != "tg-probes" ||
		ov.EnforcementAction != "warn" || ov.Severity != model.SeverityMedium || ov.Parameters["registries"].([]any)[0] != "ghcr.io/acme" ||
		p.PodSecurity.Level != "baseline" || p.PodSecurity.Version != "v1.30" || p.PodSecurity.Severity != model.SeverityCritical ||
		c.FailOn("policy") != model.SeverityMedium || p.DefaultNamespace != "apps" || p.TimeoutDuration() != 90*time.Second {
		t.Fatalf("policy = %+v", p)
	}
}

func TestPolicyErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"policy:\n  pod-security:\n    level: strict\n", `tollgate.yaml:4: unknown Pod Security level "strict"`},
		{"policy:\n  pod-security:\n    version: v2.0\n", `tollgate.yaml:4: Pod Security version "v2.0"`},
		{"policy:\n  constraints:\n    x:\n      enforcement-action: block\n", `tollgate.yaml:5: enforcement-action "block"`},
		{"policy:\n  timeout: soon\n", `tollgate.yaml: policy.timeout`},
		{"policy:\n  disabled: [\"\"]\n", `policy.disabled: empty constraint name`},
		{"policy:\n  pathz: []\n", `tollgate.yaml:3: unknown key "pathz" (in policy section)`},
	}
	for _, c := range cases {
		_, err := Parse("tollgate.yaml", []byte("version: 1\n"+c.yaml))
		var ie *model.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.yaml, err, c.want)
		}
	}
}
