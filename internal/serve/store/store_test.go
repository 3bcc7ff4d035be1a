package store_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/serve/servetest"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

type backend struct {
	name string
	// open returns a DSN for a fresh database; several Opens of it share it.
	dsn func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "serve.db") }},
		{"postgres", func(t *testing.T) string { return servetest.Postgres(t) }},
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func push(repo, digest, tag string) store.Push {
	return store.Push{Registry: "127.0.0.1:5000", Repository: repo, Digest: digest, Tag: tag, Source: "api"}
}

func dg(i int) string { return fmt.Sprintf("sha256:%064x", i) }

func result(kind string) *store.Result {
	return &store.Result{Scan: store.Scan{Kind: kind, StartedAt: t0, FinishedAt: t0.Add(time.Second), Tools: map[string]string{"trivy": "v0.74.0"},
		DBVersion: "db1", Counts: map[string]int{"HIGH": 1},
		Findings: []model.Finding{{RuleID: "CVE-2024-0001", Severity: model.SeverityHigh, Message: "m"}}, Report: []byte(`{"SchemaVersion":2}`)}}
}

func open(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestStore(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			st := open(t, dsn)
			ctx := context.Background()
			t.Run("migrations", func(t *testing.T) {
				driver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[b.name]
				db, err := sql.Open(driver, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if b.name == "postgres" {
					open(t, dsn) // a second replica starting on the migrated database applies nothing
				}
				var v, n int
				if err := db.QueryRow(`SELECT MAX(version), COUNT(*) FROM schema_migrations`).Scan(&v, &n); err != nil {
					t.Fatal(err)
				}
				if v != store.SchemaVersion() || n != store.SchemaVersion() {
					t.Fatalf("schema version %d in %d rows, want %d once", v, n, store.SchemaVersion())
				}
			})
			t.Run("dedupe", func(t *testing.T) { testDedupe(t, ctx, st) })
			t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, ctx, st) })
			t.Run("lease", func(t *testing.T) { testLease(t, ctx, st) })
			t.Run("outbox", func(t *testing.T) { testOutbox(t, ctx, st) })
			t.Run("rescans", func(t *testing.T) { testRescans(t, ctx, st) })
		})
	}
}

// The same digest under 50 tags, in one request and in several, is one scan job.
func testDedupe(t *testing.T, ctx context.Context, st store.Store) {
	var batch []store.Push
	for i := 0; i < 50; i++ {
		batch = append(batch, push("dedupe/app", dg(1), fmt.Sprintf("v%d", i)))
	}
	res, err := st.Ingest(ctx, batch, t0)
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	for _, r := range res {
		if r.Queued {
			queued++
		}
	}
	if queued != 1 {
		t.Fatalf("50 tags of one digest queued %d jobs, want 1", queued)
	}
	res, err = st.Ingest(ctx, []store.Push{push("dedupe/app", dg(1), "again"), push("dedupe/app", dg(2), "other")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Queued || !res[1].Queued {
		t.Fatalf("re-push queued=%v (want false), new digest queued=%v (want true)", res[0].Queued, res[1].Queued)
	}
	im, err := st.Image(ctx, push("dedupe/app", dg(1), "").Ref())
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Tags) != 51 || im.Pushes != 51 || im.Status != store.StatusQueued {
		t.Fatalf("image: %d tags, %d pushes, status %s; want 51, 51, queued", len(im.Tags), im.Pushes, im.Status)
	}
	drain(t, ctx, st, "drain") // leave the queue empty for the next subtest
}

// drain finishes every due job.
func drain(t *testing.T, ctx context.Context, st store.Store, owner string) {
	for {
		j, err := st.Claim(ctx, owner, t0.Add(time.Hour), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			return
		}
		if _, err := st.Finish(ctx, j, result(j.Kind), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
}

func testLifecycle(t *testing.T, ctx context.Context, st store.Store) {
	p := push("life/app", dg(10), "1")
	if _, err := st.Ingest(ctx, []store.Push{p}, t0); err != nil {
		t.Fatal(err)
	}
	j, err := st.Claim(ctx, "w1", t0, time.Minute)
	if err != nil || j == nil {
		t.Fatalf("claim: %v %v", j, err)
	}
	if j.Ref != p.Ref() || j.Kind != store.KindScan || j.Attempts != 1 || j.Registry != "127.0.0.1:5000" {
		t.Fatalf("claimed %+v", j)
	}
	// A failed attempt waits for its backoff.
	if err := st.Retry(ctx, j, "registry said 500", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if j2, _ := st.Claim(ctx, "w1", t0.Add(30*time.Second), time.Minute); j2 != nil {
		t.Fatalf("claimed %d before its backoff ran out", j2.ID)
	}
	j, err = st.Claim(ctx, "w1", t0.Add(2*time.Minute), time.Minute)
	if err != nil || j == nil || j.Attempts != 2 {
		t.Fatalf("claim after backoff: %+v %v", j, err)
	}
	if err := st.Fail(ctx, j, "image not found", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	im, _ := st.Image(ctx, p.Ref())
	if im.Status != store.StatusFailed || im.LastError != "image not found" {
		t.Fatalf("after fail: %s %q", im.Status, im.LastError)
	}
	// A failed digest is tried again on its next push; a scanned one is not.
	res, _ := st.Ingest(ctx, []store.Push{p}, t0.Add(3*time.Minute))
	if !res[0].Queued {
		t.Fatal("re-push of a failed digest did not queue it again")
	}
	j, _ = st.Claim(ctx, "w1", t0.Add(3*time.Minute), time.Minute)
	id, err := st.Finish(ctx, j, result(store.KindScan), t0.Add(4*time.Minute))
	if err != nil || id == 0 {
		t.Fatalf("finish: %d %v", id, err)
	}
	res, _ = st.Ingest(ctx, []store.Push{p}, t0.Add(5*time.Minute))
	if res[0].Queued {
		t.Fatal("re-push of a scanned digest queued a second scan")
	}
	im, _ = st.Image(ctx, p.Ref())
	if im.Status != store.StatusScanned || im.Scan == nil || im.Scan.ID != id || im.Scan.Counts["HIGH"] != 1 {
		t.Fatalf("after finish: %+v", im)
	}
	sc, err := st.LatestScan(ctx, im.ID)
	if err != nil || len(sc.Findings) != 1 || sc.Findings[0].RuleID != "CVE-2024-0001" || string(sc.Report) != `{"SchemaVersion":2}` {
		t.Fatalf("latest scan: %+v %v", sc, err)
	}
	if _, err := st.SBOM(ctx, im.ID, "spdx-json"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SBOM of a scan without one: %v", err)
	}
	if _, err := st.Image(ctx, "127.0.0.1:5000/none@"+dg(999)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing image: %v", err)
	}
}

// A lease that is not renewed passes to another worker, and the old owner's result is refused.
func testLease(t *testing.T, ctx context.Context, st store.Store) {
	p := push("lease/app", dg(20), "1")
	st.Ingest(ctx, []store.Push{p}, t0)
	a, _ := st.Claim(ctx, "a", t0, time.Minute)
	if a == nil {
		t.Fatal("no job")
	}
	if b, _ := st.Claim(ctx, "b", t0.Add(30*time.Second), time.Minute); b != nil {
		t.Fatal("job claimed twice while its lease is live")
	}
	if err := st.Extend(ctx, a, t0.Add(50*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.Claim(ctx, "b", t0.Add(100*time.Second), time.Minute); b != nil {
		t.Fatal("job claimed although its lease was renewed")
	}
	b, _ := st.Claim(ctx, "b", t0.Add(3*time.Minute), time.Minute)
	if b == nil || b.ID != a.ID || b.Attempts != 2 {
		t.Fatalf("expired lease not taken over: %+v", b)
	}
	if _, err := st.Finish(ctx, a, result(store.KindScan), t0.Add(3*time.Minute)); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("old owner's finish: %v, want ErrLeaseLost", err)
	}
	if err := st.Extend(ctx, a, t0.Add(3*time.Minute), time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("old owner's extend: %v", err)
	}
	if _, err := st.Finish(ctx, b, result(store.KindScan), t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func testOutbox(t *testing.T, ctx context.Context, st store.Store) {
	p := push("outbox/app", dg(30), "1")
	st.Ingest(ctx, []store.Push{p}, t0)
	j, _ := st.Claim(ctx, "w", t0, time.Minute)
	res := result(store.KindScan)
	// The same target twice for one scan is one delivery: the idempotency record.
	res.Notifications = []store.Outgoing{{Target: "hook", Payload: []byte(`{"a":1}`)}, {Target: "hook", Payload: []byte(`{"a":2}`)}, {Target: "slack", Payload: []byte(`{}`)}}
	scanID, err := st.Finish(ctx, j, res, t0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var hook *store.Notification
	for {
		n, err := st.ClaimNotification(ctx, "d", t0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n == nil {
			break
		}
		if n.ScanID != scanID {
			t.Fatalf("notification of scan %d, want %d", n.ScanID, scanID)
		}
		seen[n.Target]++
		if n.Target == "hook" {
			hook = n
			if err := st.RetryNotification(ctx, n, "503", t0.Add(time.Minute), t0); err != nil {
				t.Fatal(err)
			}
		} else if err := st.Delivered(ctx, n, t0); err != nil {
			t.Fatal(err)
		}
	}
	if seen["hook"] != 1 || seen["slack"] != 1 {
		t.Fatalf("deliveries claimed: %v, want one per target", seen)
	}
	n, _ := st.ClaimNotification(ctx, "d", t0.Add(2*time.Minute), time.Minute)
	if n == nil || n.ID != hook.ID || n.Attempts != 2 || string(n.Payload) != `{"a":1}` {
		t.Fatalf("retried delivery: %+v", n)
	}
	if err := st.FailNotification(ctx, n, "gave up", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ds, _ := st.Deliveries(ctx, 10)
	states := map[string]string{}
	for _, d := range ds {
		if d.Ref == p.Ref() {
			states[d.Target] = d.State + "/" + d.LastError
		}
	}
	if states["hook"] != "failed/gave up" || states["slack"] != "delivered/" {
		t.Fatalf("recorded deliveries: %v", states)
	}
	stats, _ := st.Stats(ctx)
	if stats.NotificationsFailed < 1 {
		t.Fatalf("stats: %+v", stats)
	}
}

func testRescans(t *testing.T, ctx context.Context, st store.Store) {
	drain(t, ctx, st, "pre")
	// Every scanned image has db_version "db1" (see result).
	imgs, _ := st.Images(ctx)
	scanned := 0
	for _, im := range imgs {
		if im.Scan != nil {
			scanned++
		}
	}
	if n, err := st.QueueRescans(ctx, "db1", "db db1", t0); err != nil || n != 0 {
		t.Fatalf("rescans for the current DB: %d %v, want 0", n, err)
	}
	n, err := st.QueueRescans(ctx, "db2", "db db2", t0)
	if err != nil || n != scanned || n == 0 {
		t.Fatalf("rescans for a new DB: %d %v, want %d", n, err, scanned)
	}
	if n, _ := st.QueueRescans(ctx, "db2", "db db2", t0); n != 0 {
		t.Fatalf("rescans queued twice: %d", n)
	}
	j, _ := st.Claim(ctx, "w", t0.Add(time.Hour), time.Minute)
	if j == nil || j.Kind != store.KindRescan {
		t.Fatalf("claimed %+v, want a rescan", j)
	}
	// While it runs, the same DB version does not queue it again.
	if n, _ := st.QueueRescans(ctx, "db2", "db db2", t0); n != 0 {
		t.Fatalf("running rescan queued again: %d", n)
	}
	st.Release(ctx, j, t0)
	drain(t, ctx, st, "post")
	// A scheduled round is queued once per slot, whatever the DB, even by several replicas.
	if n, _ := st.QueueRescans(ctx, "", "schedule 2026-01-02T00:00:00Z", t0); n != scanned {
		t.Fatalf("scheduled rescans: %d, want %d", n, scanned)
	}
	drain(t, ctx, st, "sched")
	if n, _ := st.QueueRescans(ctx, "", "schedule 2026-01-02T00:00:00Z", t0); n != 0 {
		t.Fatalf("the same scheduled round queued again: %d", n)
	}
}

// TestClaimExactlyOnce races many workers of two store instances (two connection pools, as two
// replicas would have) over one database: every job is claimed and finished exactly once.
func TestClaimExactlyOnce(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			a := open(t, dsn)
			second := a
			if b.name == "postgres" {
				second = open(t, dsn) // SQLite is one process's file: its lock refuses a second opener
			}
			ctx := context.Background()
			const jobs = 120
			var pushes []store.Push
			for i := 0; i < jobs; i++ {
				pushes = append(pushes, push("race/app", dg(1000+i), ""))
			}
			if _, err := a.Ingest(ctx, pushes, t0); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			claims := map[int64]int{}
			var wg sync.WaitGroup
			for w := 0; w < 8; w++ {
				st := a
				if w%2 == 1 {
					st = second
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						j, err := st.Claim(ctx, fmt.Sprintf("w%d", w), t0, time.Hour)
						if err != nil {
							t.Error(err)
							return
						}
						if j == nil {
							return
						}
						mu.Lock()
						claims[j.ID]++
						mu.Unlock()
						if _, err := st.Finish(ctx, j, result(j.Kind), t0); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if len(claims) != jobs {
				t.Fatalf("%d jobs claimed, want %d", len(claims), jobs)
			}
			for id, n := range claims {
				if n != 1 {
					t.Fatalf("job %d claimed %d times", id, n)
				}
			}
		})
	}
}

func TestSQLiteCrashRecoveryAndLock(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "serve.db")
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "in use by another tollgate serve") {
		t.Fatalf("second opener of one SQLite file: %v", err)
	}
	st.Ingest(ctx, []store.Push{push("crash/app", dg(1), "1")}, t0)
	j, _ := st.Claim(ctx, "dead", time.Now(), time.Hour)
	if j == nil {
		t.Fatal("no job")
	}
	st.Close() // the owner dies with the job running under a long lease
	st = open(t, dsn)
	j2, err := st.Claim(ctx, "alive", time.Now(), time.Hour)
	if err != nil || j2 == nil || j2.ID != j.ID {
		t.Fatalf("job left running by a dead process not given back at open: %+v %v", j2, err)
	}
}

// TestSQLiteWALStartsOver commits without pause, as ingest does under load, and checks that the
// checkpoints still let the WAL start over from its beginning: a WAL that only grows makes
// every commit's fsync commit the file system's journal too, the acknowledgement tail of
// issue 13.
func TestSQLiteWALStartsOver(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "serve.db")
	ctx := context.Background()
	st := open(t, dsn)
	// The WAL header's checkpoint sequence number (bytes 12-15) counts the times it started over.
	seq := func() uint32 {
		f, err := os.Open(dsn + "-wal")
		if err != nil {
			return 0
		}
		defer f.Close()
		var h [16]byte
		if _, err := io.ReadFull(f, h[:]); err != nil {
			return 0
		}
		return binary.BigEndian.Uint32(h[12:])
	}
	// Some 12 MB of commits at the least; a WAL that never starts over fails after 20 s.
	first, starts := seq(), 0
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; starts < 3; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL started over %d times in 20 s of commits without pause, want 3: it only grows", starts)
		}
		p := push("wal/app", dg(i%20), fmt.Sprint(i))
		p.EventID = fmt.Sprint(i)
		if _, err := st.Ingest(ctx, []store.Push{p}, t0); err != nil {
			t.Fatal(err)
		}
		starts = int(seq() - first)
	}
}

func TestMigrations(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "serve.db")
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	var v, n int
	db.QueryRow(`SELECT MAX(version), COUNT(*) FROM schema_migrations`).Scan(&v, &n)
	if v != store.SchemaVersion() || n != store.SchemaVersion() {
		t.Fatalf("schema version %d (%d rows), want %d", v, n, store.SchemaVersion())
	}
	// Opening again applies nothing twice.
	st, err = store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
	if n != store.SchemaVersion() {
		t.Fatalf("%d migration rows after reopening, want %d", n, store.SchemaVersion())
	}
	// A database from a newer tollgate is refused, not damaged.
	db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)`)
	db.Close()
	if _, err := store.Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer than this tollgate") {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db": "postgres://u:xxxxx@h:5432/db",
		"postgres://u@h/db":             "postgres://u@h/db",
		"/var/lib/serve.db":             "/var/lib/serve.db",
	} {
		if got := store.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
