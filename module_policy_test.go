//go:build daggerunit

package main

import (
	"errors"
	"slices"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestPolicyPaths(t *testing.T) {
	cfg := config.Default()
	if got, err := policyPaths(cfg, nil); err != nil || !slices.Equal(got, []string{"k8s"}) {
		t.Fatalf("default = %v, %v; want validate's k8s", got, err)
	}
	cfg.Policy.Manifests = []string{"deploy"}
	if got, err := policyPaths(cfg, nil); err != nil || !slices.Equal(got, []string{"deploy"}) {
		t.Fatalf("policy.manifests = %v, %v", got, err)
	}
	if got, err := policyPaths(cfg, []string{"a/b"}); err != nil || !slices.Equal(got, []string{"a/b"}) {
		t.Fatalf("arguments = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"/etc"}, {"../other"}} {
		_, err := policyPaths(cfg, bad)
		var ie *model.InputError
		if !errors.As(err, &ie) {
			t.Errorf("%q: err = %v, want an input error", bad, err)
		}
	}
	cfg.Policy.Paths = []string{"../policies"}
	var ie *model.InputError
	if _, err := policyPaths(cfg, nil); !errors.As(err, &ie) {
		t.Errorf("policy.paths outside the source: err = %v, want an input error", err)
	}
}
