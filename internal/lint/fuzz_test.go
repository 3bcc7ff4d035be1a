package lint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// FuzzLint: any bytes give findings or a typed error, never a panic. `go test` runs the seeds
// (every fixture); `go test -fuzz FuzzLint ./internal/lint` explores further.
func FuzzLint(f *testing.F) {
	dirs, _ := filepath.Glob(filepath.Join(badDir, "*", "Dockerfile"))
	dirs = append(dirs, filepath.Join(demoDir, "Dockerfile"))
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(".git\n"))
	}
	f.Fuzz(func(t *testing.T, dockerfile, ignore []byte) {
		in := Input{Path: "Dockerfile", Content: dockerfile, DockerIgnore: ignore, HasDockerIgnore: len(ignore) > 0}
		res, err := Lint(context.Background(), Options{AllowedRegistries: []string{"docker.io"}}, []Input{in})
		if err != nil {
			var ie *model.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v is not an InputError", err, err)
			}
			return
		}
		for _, fd := range res.Findings {
			if fd.Location.Line < 1 {
				t.Fatalf("finding %s without a line: %+v", fd.RuleID, fd)
			}
		}
	})
}
