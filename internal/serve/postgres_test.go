package serve_test

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
	"github.com/tollgate-dev/tollgate/internal/serve/notify"
	"github.com/tollgate-dev/tollgate/internal/serve/servetest"
)

// TestPostgresTwoInstances runs two service instances on one PostgreSQL database. The registry
// notifies both of every push, so both try to queue every digest; each digest is scanned
// exactly once, both instances do work, and each notification goes out once.
func TestPostgresTwoInstances(t *testing.T) {
	needFixtures(t)
	dsn := servetest.Postgres(t)
	dbDir := filepath.Join(t.TempDir(), "trivy-db")
	servetest.BuildDB(t, fx.Advisories, dbDir, time.Now())
	hook := servetest.NewReceiver(t)
	la, lb := listen(t), listen(t)
	reg := servetest.StartRegistry(t, "pusher", registryPass,
		servetest.Endpoint{URL: "http://" + la.Addr().String() + ingest.PathDistribution, Token: secret},
		servetest.Endpoint{URL: "http://" + lb.Addr().String() + ingest.PathDistribution, Token: secret})
	var insts []*instance
	for i, l := range []net.Listener{la, lb} {
		cfg := testConfig(t, t.TempDir(), dbDir, reg.Host, hook.URL)
		cfg.Database = dsn
		cfg.Instance = []string{"a", "b"}[i]
		cfg.Queue.Workers = 1
		insts = append(insts, startService(t, cfg, l))
	}
	const n = 4
	var refs []string
	for i := 0; i < n; i++ {
		refs = append(refs, reg.Push(t, mustVariant(t, 10+i), "pg/app", fmt.Sprintf("v%d", i)))
	}
	waitScanned(t, insts[0].URL, 5*time.Minute, "", refs...)
	owners := map[string]int{}
	perImage := map[string]int{}
	for _, j := range jobs(t, insts[1].URL) {
		if j.Kind != "scan" {
			continue
		}
		perImage[j.Image]++
		owners[strings.SplitN(j.Owner, "/", 2)[0]]++
		if j.State != "done" {
			t.Errorf("job %+v", j)
		}
	}
	for _, r := range refs {
		if perImage[r] != 1 {
			t.Errorf("%s scanned by %d jobs, want exactly 1", r, perImage[r])
		}
	}
	if len(perImage) != n {
		t.Errorf("scan jobs for %d images, want %d", len(perImage), n)
	}
	t.Logf("jobs per instance: %v", owners)
	if owners["a"] == 0 || owners["b"] == 0 {
		t.Errorf("one instance did all the work (%v): the queue is not shared", owners)
	}
	servetest.WaitFor(t, time.Minute, "a notification per image", func() bool { return len(hook.Requests()) >= n })
	time.Sleep(time.Second)
	seen := map[string]int{}
	for _, r := range hook.Requests() {
		var m notify.Message
		json.Unmarshal(r.Body, &m)
		seen[m.Image]++
	}
	for _, r := range refs {
		if seen[r] != 1 {
			t.Errorf("%s notified %d times, want once", r, seen[r])
		}
	}
}
