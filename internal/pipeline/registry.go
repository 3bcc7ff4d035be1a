package pipeline

import (
	"fmt"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/attest"
	"github.com/tollgate-dev/tollgate/internal/build"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/deploy"
	"github.com/tollgate-dev/tollgate/internal/lint"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/push"
	"github.com/tollgate-dev/tollgate/internal/sbom"
	"github.com/tollgate-dev/tollgate/internal/scan"
	"github.com/tollgate-dev/tollgate/internal/score"
	"github.com/tollgate-dev/tollgate/internal/sign"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/validate"
	"github.com/tollgate-dev/tollgate/internal/verify"
)

// Stages returns every stage in pipeline order. Adding a stage means adding it here and in
// config.StageNames.
func Stages() []stage.Stage {
	return []stage.Stage{
		build.Stage(),
		lint.Stage(),
		validate.Stage(),
		score.Stage(),
		policy.Stage(),
		sbom.Stage(),
		scan.Stage(),
		push.Stage(),
		sign.Stage(),
		attest.Stage(),
		verify.Stage(),
		deploy.Stage(),
	}
}

// Select returns the named stages in pipeline order; an unknown name is an error.
func Select(names []string) ([]stage.Stage, error) {
	all := Stages()
	if len(names) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		found := false
		for _, s := range all {
			if s.Name == n {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown stage %q (available: %s)", n, strings.Join(names2(all), ", "))
		}
		want[n] = true
	}
	var out []stage.Stage
	for _, s := range all {
		if want[s.Name] {
			out = append(out, s)
		}
	}
	return out, nil
}

// SetUp drops the opt-in stages that the project has not set up (stage.Stage.OptIn).
func SetUp(stages []stage.Stage, c *config.Config, root string) []stage.Stage {
	var out []stage.Stage
	for _, s := range stages {
		if s.OptIn == nil || s.OptIn(c, root) {
			out = append(out, s)
		}
	}
	return out
}

func names2(ss []stage.Stage) []string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return n
}
