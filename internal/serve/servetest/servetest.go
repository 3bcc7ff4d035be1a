// Package servetest starts the real components tollgate serve's tests run against: Debian's
// PostgreSQL and Distribution registry as plain child processes on 127.0.0.1 in temp dirs,
// fixture images with planted CVEs, the offline trivy DB, and recording HTTP receivers. It
// installs a missing Debian package with apt-get, never reaches beyond the loopback otherwise.
package servetest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/debpkg"
)

// aptMu serialises installs from this test binary (apt itself has the lock timeout).
var aptMu sync.Mutex

// NeedPackage installs a Debian package when probe (a path glob) finds nothing, and returns the
// first match.
func NeedPackage(t testing.TB, pkg, probe string) string {
	t.Helper()
	aptMu.Lock()
	defer aptMu.Unlock()
	if m, _ := filepath.Glob(probe); len(m) > 0 {
		return m[0]
	}
	t.Logf("installing Debian package %s (no %s)", pkg, probe)
	if err := debpkg.Install(context.Background(), pkg); err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(probe)
	if len(m) == 0 {
		t.Fatalf("installed %s but %s is still missing", pkg, probe)
	}
	return m[0]
}

func tail(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, []byte("\n"))
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond every 50ms until it is true or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// process is a child started by a helper; Stop ends it (SIGTERM, then SIGKILL).
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func start(t testing.TB, cmd *exec.Cmd, logFile string) *process {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), log: logFile}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	return p
}

func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) logTail() string {
	b, _ := os.ReadFile(p.log)
	return string(tail(b, 30))
}

func itoa(i int) string { return strconv.Itoa(i) }
