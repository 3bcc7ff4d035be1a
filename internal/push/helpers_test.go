package push

import (
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// writeLayoutIndex writes an OCI layout whose index.json names idx (a multi-platform image, as
// the build writes it) and returns the layout dir.
func writeLayoutIndex(dir string, idx v1.ImageIndex) (string, error) {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", err
	}
	return dir, p.AppendIndex(idx)
}

func writeFile(p, content string) error { return os.WriteFile(p, []byte(content), 0o644) }
