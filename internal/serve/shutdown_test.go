package serve_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/servetest"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

// TestGracefulShutdown stops the service while a scan runs: within the shutdown timeout the
// worker finishes the job (drained); past it, the job goes back to the queue uncounted.
func TestGracefulShutdown(t *testing.T) {
	needFixtures(t)
	dbDir := filepath.Join(t.TempDir(), "trivy-db")
	servetest.BuildDB(t, fx.Advisories, dbDir, time.Now())
	reg := servetest.StartRegistry(t, "pusher", registryPass)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		want    string
		tries   int
	}{
		{"drained", time.Minute, "done", 1},
		{"timeout gives the job back", time.Millisecond, "queued", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			cfg := testConfig(t, dataDir, dbDir, reg.Host, "")
			cfg.ShutdownTimeout.Duration = tc.timeout
			svc := startService(t, cfg, listen(t))
			ref := reg.Push(t, mustVariant(t, 500), "shutdown/app", "1")
			code := postImage(t, svc.URL, ref)
			if code != 202 {
				t.Fatalf("POST: %d", code)
			}
			servetest.WaitFor(t, time.Minute, "the scan to start", func() bool {
				for _, j := range jobs(t, svc.URL) {
					if j.State == "running" {
						return true
					}
				}
				return false
			})
			svc.stop()
			st, err := store.Open(context.Background(), filepath.Join(dataDir, "tollgate-serve.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			js, _ := st.Jobs(context.Background(), 10)
			if len(js) != 1 || js[0].State != tc.want || js[0].Attempts != tc.tries {
				t.Fatalf("after shutdown: %+v, want one job %s with %d attempt(s)", js, tc.want, tc.tries)
			}
		})
	}
}
