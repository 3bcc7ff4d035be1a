package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/buildkit/client"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Daemon is a private buildkitd that Tollgate started and will stop: an OCI worker running
// build steps with the OS's runc, listening on a unix socket in a temp dir.
type Daemon struct {
	Addr  string // unix:///.../buildkitd.sock
	Root  string // state dir: the build cache
	Note  string // how the state dir was chosen, for progress
	cmd   *exec.Cmd
	log   *tailBuffer
	dir   string // temp dir holding the socket, config and log
	done  chan struct{}
	err   error // exit status, valid after done is closed
	unlk  func()
	tmpRt bool // Root is private to this daemon and removed on Stop
}

// DaemonOptions say how to start buildkitd.
type DaemonOptions struct {
	Binary string // pinned buildkitd
	Runc   string // runc binary (absolute)
	// StateDir is the shared build cache (kept between runs). When another daemon holds it,
	// a private one under it is used and removed afterwards.
	StateDir string
	// KeepStorageMB bounds the cache buildkitd keeps (its garbage collector's budget).
	KeepStorageMB int
	// StartTimeout bounds waiting for the socket to answer.
	StartTimeout time.Duration
}

// Requirements checks what the private BuildKit needs on this machine and says what to do
// when something is missing. The returned error is a *model.InputError (exit 2): the machine
// cannot build natively, which the user fixes by installing or choosing another way.
func Requirements(lookPath func(string) (string, error), euid int) (runc string, err error) {
	alternatives := "or set build.builder: buildx to build with a running Docker daemon, or build with the Dagger module (dagger call ... build)"
	if runtime.GOOS != "linux" {
		return "", &model.InputError{Err: fmt.Errorf("the native builder needs Linux (BuildKit's OCI worker); this is %s: %s", runtime.GOOS, alternatives)}
	}
	if euid != 0 {
		return "", &model.InputError{Err: fmt.Errorf("the native builder runs buildkitd with runc as root; this process runs as uid %d (rootless BuildKit is not supported): run as root, %s", euid, alternatives)}
	}
	runc, err = lookPath("runc")
	if err != nil {
		return "", &model.InputError{Err: fmt.Errorf("the native builder needs runc to run build steps and none is on PATH: install it (Debian/Ubuntu: apt-get install runc; Fedora: dnf install runc), %s", alternatives)}
	}
	if abs, err := filepath.Abs(runc); err == nil {
		runc = abs
	}
	return runc, nil
}

// StartDaemon starts buildkitd and waits until it answers. Crashes and timeouts while starting
// are *model.ToolError with the end of buildkitd's log.
func StartDaemon(ctx context.Context, o DaemonOptions) (*Daemon, error) {
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.KeepStorageMB == 0 {
		o.KeepStorageMB = 10000
	}
	// The socket path must stay short (108 bytes on Linux): a temp dir, not the cache dir.
	dir, err := os.MkdirTemp("", "tollgate-buildkit-*")
	if err != nil {
		return nil, toolErr(fmt.Errorf("temp dir for buildkitd: %w", err))
	}
	d := &Daemon{dir: dir, log: newTailBuffer(64 << 10), done: make(chan struct{})}
	if err := d.pickRoot(o.StateDir); err != nil {
		os.RemoveAll(dir)
		return nil, toolErr(err)
	}
	sock := filepath.Join(dir, "buildkitd.sock")
	d.Addr = "unix://" + sock
	// An explicit, empty config: a system /etc/buildkit/buildkitd.toml must not change our builds.
	cfgFile := filepath.Join(dir, "buildkitd.toml")
	if err := os.WriteFile(cfgFile, []byte("# Tollgate's private buildkitd: every setting is on the command line.\n"), 0o600); err != nil {
		d.cleanup()
		return nil, toolErr(err)
	}
	args := []string{
		"--config", cfgFile,
		"--root", d.Root,
		"--addr", d.Addr,
		"--containerd-worker=false",
		"--oci-worker=true",
		"--oci-worker-binary=" + o.Runc,
		// Build steps share the host's network, as `docker build` on the default builder
		// does; no CNI plugins are needed.
		"--oci-worker-net=host",
		"--oci-worker-gc",
		fmt.Sprintf("--oci-worker-gc-keepstorage=%d", o.KeepStorageMB),
		"--cdi-disabled",
	}
	cmd := exec.Command(o.Binary, args...)
	cmd.Env = daemonEnv()
	cmd.Stdout, cmd.Stderr = d.log, d.log
	// Its own process group, so a stop reaches runc and the build steps too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.cleanup()
		return nil, toolErr(fmt.Errorf("start buildkitd: %w", err))
	}
	d.cmd = cmd
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	if err := d.waitReady(ctx, o.StartTimeout); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// pickRoot takes the shared state dir when no other daemon holds it; otherwise a private dir
// beside it (cold cache, removed on Stop), so concurrent runs never share a buildkitd root.
func (d *Daemon) pickRoot(state string) error {
	if err := os.MkdirAll(state, 0o700); err != nil {
		return fmt.Errorf("buildkit state dir: %w", err)
	}
	shared := filepath.Join(state, "shared")
	unlock, err := tryLock(shared + ".lock")
	if err == nil {
		d.Root, d.unlk = shared, unlock
		return nil
	}
	priv, err := os.MkdirTemp(state, "private-")
	if err != nil {
		return fmt.Errorf("buildkit state dir: %w", err)
	}
	d.Root, d.tmpRt = priv, true
	d.Note = "the shared BuildKit cache is in use by another run: building with a private, empty cache"
	return nil
}

func tryLock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func (d *Daemon) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-d.done:
			return toolErr(fmt.Errorf("buildkitd exited while starting (%v): %s", d.err, d.LogTail(8)))
		case <-ctx.Done():
			return toolErr(fmt.Errorf("buildkitd start: %w", ctx.Err()))
		default:
		}
		if _, err := os.Stat(strings.TrimPrefix(d.Addr, "unix://")); err == nil {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := client.New(cctx, d.Addr)
			if err == nil {
				_, err = c.ListWorkers(cctx)
				c.Close()
			}
			cancel()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return toolErr(fmt.Errorf("buildkitd did not answer on %s within %s: %s", d.Addr, timeout, d.LogTail(8)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Exited is closed when the daemon process has ended.
func (d *Daemon) Exited() <-chan struct{} { return d.done }

// ExitErr is how the daemon ended (valid once Exited is closed).
func (d *Daemon) ExitErr() error { return d.err }

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// LogTail returns the last n lines buildkitd logged, for error messages.
func (d *Daemon) LogTail(n int) string { return tools.LastLines(d.log.Bytes(), n) }

// Stop ends the daemon (SIGTERM, then SIGKILL to its process group after 10 s) and removes its
// socket dir, and its state dir when that was private.
func (d *Daemon) Stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		select {
		case <-d.done:
		default:
			syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-d.done:
			case <-time.After(10 * time.Second):
				syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
				<-d.done
			}
		}
	}
	d.cleanup()
}

func (d *Daemon) cleanup() {
	if d.unlk != nil {
		d.unlk()
		d.unlk = nil
	}
	if d.Root != "" {
		// A daemon that was killed leaves its overlay mounts behind.
		unmountUnder(d.Root)
		if d.tmpRt {
			os.RemoveAll(d.Root)
		}
	}
	os.RemoveAll(d.dir)
}

// removeState deletes a state dir, unmounting what a killed daemon left mounted in it first so
// RemoveAll does not fail halfway.
func removeState(root string) {
	unmountUnder(root)
	os.RemoveAll(root)
}

func unmountUnder(root string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], root+"/") {
			syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
}

// daemonEnv is a minimal environment for buildkitd: no registry passwords or other secrets
// from Tollgate's own environment reach it or the build steps it starts.
func daemonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "TMPDIR", k == "LANG", k == "TZ", k == "SSL_CERT_FILE", k == "SSL_CERT_DIR",
			strings.EqualFold(k, "HTTP_PROXY"), strings.EqualFold(k, "HTTPS_PROXY"), strings.EqualFold(k, "NO_PROXY"):
			env = append(env, kv)
		}
	}
	return env
}

func toolErr(err error) error { return &model.ToolError{Tool: "buildkitd", Err: err} }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append([]byte(nil), t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.b)
}

var errDaemonGone = errors.New("buildkitd exited during the build")
