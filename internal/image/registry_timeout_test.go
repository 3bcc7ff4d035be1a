package image

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

// A registry that accepts connections but never answers (hung proxy, firewall black hole) is an
// infrastructure error (exit 3) after Limits.RegistryTimeout, never a stage that hangs forever.
func TestOpenRegistryThatNeverAnswers(t *testing.T) {
	t.Setenv(EnvRegistryUsername, "")
	t.Setenv(EnvRegistryPassword, "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if DefaultLimits().RegistryTimeout <= 0 {
		t.Fatal("DefaultLimits has no registry timeout: a silent registry would hang the run")
	}

	silentTCP := func(t *testing.T) string {
		addr, stop, err := testimage.SilentListener()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return addr
	}
	stuckHTTP := func(t *testing.T) string {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release); srv.Close() })
		return strings.TrimPrefix(srv.URL, "http://")
	}
	for _, tc := range []struct {
		name  string
		start func(*testing.T) string
	}{
		{"accepts TCP, never speaks", silentTCP},
		{"HTTP handler never responds", stuckHTTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := tc.start(t)
			lim := DefaultLimits()
			lim.RegistryTimeout = 300 * time.Millisecond
			_, err := OpenWithLimits(context.Background(), host+"/team/app:v1", t.TempDir(), lim)
			var te *model.ToolError
			if !errors.As(err, &te) {
				t.Fatalf("want a ToolError (exit 3), got %T %v", err, err)
			}
			if !strings.Contains(err.Error(), "did not answer within") || !strings.Contains(err.Error(), host) {
				t.Errorf("message %q should name %s and say it timed out", err, host)
			}
		})
	}
}
