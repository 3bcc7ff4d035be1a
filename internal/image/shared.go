package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tollgate-dev/tollgate/internal/stage"
)

// SharedKey is the stage.Shared key under which the run's opened *Source is stored.
const SharedKey = "image.source"

// once opens one input once per run.
type once struct {
	once sync.Once
	src  *Source
	err  error
}

// Shared opens input once per run, however many stages ask (sbom and scan run in parallel), so
// an OCI archive is extracted once. The first opener's work dir is used. sh may be nil (open
// directly). The opened source is also stored under SharedKey.
func Shared(ctx context.Context, sh *stage.Shared, input, workDir string) (*Source, error) {
	if sh == nil {
		return Open(ctx, input, workDir)
	}
	v, _ := sh.LoadOrStore("image.open:"+sharedID(input), &once{})
	o := v.(*once)
	o.once.Do(func() {
		o.src, o.err = Open(ctx, input, workDir)
		if o.err == nil {
			sh.Set(SharedKey, o.src)
		}
	})
	return o.src, o.err
}

// sharedID makes "./app.tar" and "/abs/app.tar" the same input.
func sharedID(input string) string {
	in := strings.TrimSpace(input)
	if _, err := os.Stat(in); err == nil {
		if abs, err := filepath.Abs(in); err == nil {
			return abs
		}
	}
	return in
}
