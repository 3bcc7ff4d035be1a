package queue_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/queue"
	"github.com/tollgate-dev/tollgate/internal/serve/retry"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

// TestWorkersRetryThenFail checks that a job runs, and that failed attempts are retried and
// then recorded as failed. (The scanners' priority is tools.Cmd.Nice's, tested there.)
func TestWorkersRetryThenFail(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "serve.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Ingest(ctx, []store.Push{
		{Registry: "127.0.0.1:5000", Repository: "a", Digest: "sha256:" + strings.Repeat("1", 64), Source: "api"},
		{Registry: "127.0.0.1:5000", Repository: "b", Digest: "sha256:" + strings.Repeat("2", 64), Source: "api"},
	}, time.Now())
	ran := make(chan struct{}, 1)
	attempts := 0
	p := &queue.Pool{Store: st, Owner: "t", Workers: 1, Poll: 20 * time.Millisecond,
		Retry: retry.Policy{MaxAttempts: 2, Base: 10 * time.Millisecond},
		Handle: func(ctx context.Context, slot int, job *store.Job) (*store.Result, error) {
			if strings.Contains(job.Ref, "/b@") {
				attempts++
				return nil, context.DeadlineExceeded
			}
			ran <- struct{}{}
			return &store.Result{Scan: store.Scan{Tools: map[string]string{}, Counts: map[string]int{}}}, nil
		}}
	stop, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.Run(stop, ctx); close(done) }()
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("the job did not run")
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		js, _ := st.Jobs(ctx, 10)
		failed := 0
		for _, j := range js {
			if j.State == "failed" && j.Attempts == 2 {
				failed++
			}
		}
		if failed == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if attempts != 2 {
		t.Fatalf("failing job ran %d times, want 2 (max attempts)", attempts)
	}
}
