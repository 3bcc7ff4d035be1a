package manifest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// kustomizeTimeout bounds one render: kustomize fetches remote resources (http, git) with no
// deadline of its own, so a server that accepts the connection and never answers would hang
// the stage forever.
const kustomizeTimeout = 2 * time.Minute

// loadKustomization renders a kustomization directory in process with kustomize's own library
// (what `kubectl kustomize` runs), with its default safety settings: no plugins, no Helm, files
// only from within the kustomization root. The rendered objects have no line numbers.
func loadKustomization(ctx context.Context, dir, name string, shallow bool) ([]Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := runKustomize(ctx, dir, kustomizeTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("render kustomization %s: %w", name, ctx.Err())
		}
		var te *model.ToolError
		if errors.As(err, &te) {
			return nil, err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &model.ToolError{Tool: "kustomize", Err: fmt.Errorf("render kustomization %s: not done after %s (a remote resource that does not answer?): %w", name, kustomizeTimeout, err)}
		}
		return nil, &model.InputError{File: name, Err: fmt.Errorf("render kustomization: %w", err)}
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("render kustomization: %w", err)}
	}
	return parseYAMLStream(name, out, 1, false, shallow)
}

// runKustomize runs kustomize but returns when ctx ends or timeout passes: kustomize takes no
// ctx, so an abandoned render is left to finish in the background (its result is dropped).
func runKustomize(ctx context.Context, dir string, timeout time.Duration) (resmap.ResMap, error) {
	type result struct {
		m   resmap.ResMap
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: &model.ToolError{Tool: "kustomize", Err: fmt.Errorf("kustomize crashed: %v", p)}}
			}
		}()
		k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
		m, err := k.Run(filesys.MakeFsOnDisk(), dir)
		done <- result{m, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.m, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, context.DeadlineExceeded
	}
}
