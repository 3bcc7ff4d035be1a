package manifest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

// kustomize has no deadline for remote resources: a kustomization naming a server that accepts
// connections and never answers must not hang the stage past cancellation (SIGTERM, Ctrl-C)
// nor past the render timeout (then it is an infrastructure error, exit 3).
func TestKustomizeRemoteThatNeverAnswers(t *testing.T) {
	addr, stop, err := testimage.SilentListener()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	root := t.TempDir()
	write(t, root, "app/kustomization.yaml", "resources:\n- http://"+addr+"/base.yaml\n")

	t.Run("cancelled run returns", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := Load(ctx, []string{"app"}, root)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the context's deadline", err)
		}
		if !strings.Contains(err.Error(), "app") {
			t.Errorf("error %q does not name the kustomization", err)
		}
	})
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{
		{"render timeout", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runKustomize(context.Background(), root+"/app", tc.timeout)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want a timeout", err)
			}
		})
	}
	// A kustomization that cannot render is still the user's input (exit 2), named.
	write(t, root, "bad/kustomization.yaml", "resources:\n- ../missing\n")
	_, err = Load(context.Background(), []string{"bad"}, root)
	var ie *model.InputError
	if !errors.As(err, &ie) || ie.File != "bad/kustomization.yaml" {
		t.Fatalf("got %T %v, want an InputError for bad", err, err)
	}
}
