package serve_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
	"github.com/tollgate-dev/tollgate/internal/serve/notify"
	"github.com/tollgate-dev/tollgate/internal/serve/servetest"
)

// child is `tollgate serve` running as a real child process (this test binary re-executed).
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startChild(t *testing.T, cfgPath, logPath string) *child {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+cfgPath, "TG_TEST_SECRET="+secret, "TG_TEST_REGISTRY_PASS="+registryPass, "TG_TEST_HOOK_SECRET="+hookSecret)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: kill -9 takes the service and the scanners it started, as a
	// container runtime does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(c.done) }()
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) kill() {
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
}

// TestCrashRecovery kills the service with kill -9 while one job runs and others wait, starts
// it again on the same database, and checks that every event is processed and no notification
// is sent twice.
func TestCrashRecovery(t *testing.T) {
	needFixtures(t)
	dbDir := filepath.Join(t.TempDir(), "trivy-db")
	servetest.BuildDB(t, fx.Advisories, dbDir, time.Now())
	hook := servetest.NewReceiver(t)
	port := servetest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	reg := servetest.StartRegistry(t, "pusher", registryPass, servetest.Endpoint{URL: base + ingest.PathDistribution, Token: secret})
	dataDir := t.TempDir()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
data-dir: %s
auth: {secret: {env: TG_TEST_SECRET}}
queue: {workers: 1, backoff: 200ms, poll: 100ms, lease: 6s}
registries: [{host: %q, username: pusher, password: {env: TG_TEST_REGISTRY_PASS}}]
scan: {db-dir: %s, registry-timeout: 5s}
notify:
  min-severity: HIGH
  backoff: 200ms
  targets: [{name: hook, type: webhook, url: %q, secret: {env: TG_TEST_HOOK_SECRET}}]
`, port, dataDir, reg.Host, dbDir, hook.URL)
	cfgPath := filepath.Join(dataDir, "serve.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	logPath := filepath.Join(dataDir, "serve.log")
	c := startChild(t, cfgPath, logPath)
	servetest.WaitFor(t, time.Minute, "the child service to answer", func() bool {
		code, _ := getNoFail(base + "/healthz")
		return code == 200
	})

	const n = 4
	var refs []string
	for i := 0; i < n; i++ {
		refs = append(refs, reg.Push(t, mustVariant(t, i), "crash/app", fmt.Sprintf("v%d", i)))
	}
	// Kill once a job has finished (its notification is out), one runs and others are queued.
	var inFlight []int64
	servetest.WaitFor(t, 4*time.Minute, "one job done, one running, one queued", func() bool {
		if len(hook.Requests()) < 1 {
			return false
		}
		state := map[string]int{}
		inFlight = nil
		for _, j := range jobs(t, base) {
			state[j.State]++
			if j.State == "running" {
				inFlight = append(inFlight, j.ID)
			}
		}
		return state["running"] >= 1 && state["queued"] >= 1
	})
	c.kill()
	before := len(hook.Requests())
	t.Logf("killed with %d notification(s) delivered", before)

	startChild(t, cfgPath, logPath)
	servetest.WaitFor(t, time.Minute, "the restarted service to answer", func() bool {
		code, _ := getNoFail(base + "/healthz")
		return code == 200
	})
	waitScanned(t, base, 4*time.Minute, "", refs...)
	servetest.WaitFor(t, time.Minute, "a notification per image", func() bool { return len(hook.Requests()) >= n })
	time.Sleep(time.Second)
	seen := map[string]int{}
	deliveries := map[string]bool{}
	for _, r := range hook.Requests() {
		var m notify.Message
		json.Unmarshal(r.Body, &m)
		seen[m.Image]++
		id := r.Header.Get(notify.HeaderDelivery)
		if deliveries[id] {
			t.Errorf("delivery %s sent twice", id)
		}
		deliveries[id] = true
	}
	for _, ref := range refs {
		if seen[ref] != 1 {
			t.Errorf("%s notified %d times, want once", ref, seen[ref])
		}
	}
	if len(hook.Requests()) != n {
		t.Errorf("%d notifications for %d images", len(hook.Requests()), n)
	}
	scans := 0
	for _, j := range jobs(t, base) {
		if j.Kind == "scan" {
			scans++
			if j.State != "done" {
				t.Errorf("job after restart: %+v", j)
			}
			for _, id := range inFlight {
				// The attempt the kill cut short counts; the job ran again and finished.
				if j.ID == id && j.Attempts != 2 {
					t.Errorf("job %d was running at the kill: %d attempts, want 2", id, j.Attempts)
				}
			}
		}
	}
	if scans != n {
		t.Errorf("%d scan jobs for %d pushed digests", scans, n)
	}
	logs, _ := os.ReadFile(logPath)
	for _, s := range []string{secret, registryPass, hookSecret} {
		if strings.Contains(string(logs), s) {
			t.Fatalf("a secret leaked into the service log")
		}
	}
}

func getNoFail(url string) (int, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
