package manifest

import (
	"context"
	"fmt"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// loadKustomization renders a kustomization directory in process with kustomize's own library
// (what `kubectl kustomize` runs), with its default safety settings: no plugins, no Helm, files
// only from within the kustomization root. The rendered objects have no line numbers.
func loadKustomization(ctx context.Context, dir, name string, shallow bool) ([]Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("render kustomization: %w", err)}
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, &model.InputError{File: name, Err: fmt.Errorf("render kustomization: %w", err)}
	}
	return parseYAMLStream(name, out, 1, false, shallow)
}
