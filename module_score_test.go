//go:build daggerunit

package main

import (
	"errors"
	"slices"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestScorePaths(t *testing.T) {
	cfg := config.Default()
	if got, err := scorePaths(cfg, nil); err != nil || !slices.Equal(got, []string{"k8s"}) {
		t.Fatalf("default = %v, %v; want validate's k8s", got, err)
	}
	cfg.Score.Paths = []string{"deploy"}
	if got, err := scorePaths(cfg, nil); err != nil || !slices.Equal(got, []string{"deploy"}) {
		t.Fatalf("score.paths = %v, %v", got, err)
	}
	if got, err := scorePaths(cfg, []string{"a/b", "..x"}); err != nil || !slices.Equal(got, []string{"a/b", "..x"}) {
		t.Fatalf("arguments = %v, %v", got, err)
	}
	for _, bad := range []string{"/etc", "..", "../other", "a/../../b"} {
		_, err := scorePaths(cfg, []string{bad})
		var ie *model.InputError
		if !errors.As(err, &ie) {
			t.Errorf("%q: err = %v, want an input error", bad, err)
		}
	}
}
