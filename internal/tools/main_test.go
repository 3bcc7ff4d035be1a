package tools

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// childEnv switches the test binary into a helper process for the cross-process tests:
// "ensure" runs EnsureForTests("kubeconform") as a package's TestMain would; "hold" takes
// kubeconform's build lock and keeps it until killed.
const childEnv = "TOLLGATE_TOOLS_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "ensure":
		EnsureForTests("kubeconform")
		os.Exit(0)
	case "hold":
		in := &Installer{CacheDir: DefaultCacheDir()}
		if _, err := in.lockTool(context.Background(), MustGet("kubeconform")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	// The install tests build kubeconform offline from the module cache (a file:// proxy); make
	// sure it holds kubeconform and every module its build needs. `go install -n` resolves and
	// downloads them without compiling anything: first offline (the usual case, and the only
	// one without a network), else through the configured proxy.
	kc := MustGet("kubeconform")
	proxy, err := moduleCacheProxy()
	if err == nil {
		cmd := exec.Command("go", "install", "-n", kc.Package+"@"+kc.Version)
		cmd.Env = append(os.Environ(), "GOPROXY="+proxy, "GOSUMDB=off")
		if _, err = cmd.CombinedOutput(); err != nil {
			var out []byte
			out, err = exec.Command("go", "install", "-n", kc.Package+"@"+kc.Version).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%w\n%s", err, tail(string(out), 10))
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fetch the modules of kubeconform %s into the module cache: %v\n", kc.Version, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// moduleCacheProxy is the module cache's download dir as a GOPROXY URL: itself a valid module
// proxy, whose contents were checksum-verified when they were first downloaded.
func moduleCacheProxy() (string, error) {
	modCache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	return "file://" + filepath.Join(strings.TrimSpace(string(modCache)), "cache", "download"), nil
}

// offlineProxy points `go install` at the module cache (moduleCacheProxy) and turns the
// checksum database off: builds in these tests never reach the network.
func offlineProxy(t *testing.T) {
	t.Helper()
	proxy, err := moduleCacheProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOPROXY", proxy)
	t.Setenv("GOSUMDB", "off")
}

// child is a helper process running this test binary with childEnv set.
type child struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	lines  chan string // every stdout and stderr line, as it comes
	done   chan error
}

func startChild(t *testing.T, mode, cacheDir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "TOLLGATE_CACHE_DIR="+cacheDir)
	c := &child{cmd: cmd, lines: make(chan string, 100), done: make(chan error, 1)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				c.mu.Lock()
				c.stderr.WriteString(sc.Text() + "\n")
				c.mu.Unlock()
				select {
				case c.lines <- sc.Text():
				default:
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return c
}

// waitFor returns once the child printed a line containing s.
func (c *child) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l := <-c.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-deadline:
			t.Fatalf("child did not print %q; output:\n%s", s, c.output())
		}
	}
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// Two test processes that need the same missing tool build it once: the second waits for the
// first's lock, says so, then uses the binary the first one built.
func TestEnsureForTestsBuildsOnceAcrossProcesses(t *testing.T) {
	offlineProxy(t)
	cache := t.TempDir()
	kc := MustGet("kubeconform")
	// This process takes the lock first, so both children are sure to start while a build is
	// "running" and to compete for the lock once it is released.
	in := &Installer{CacheDir: cache}
	unlock, err := in.lockTool(context.Background(), kc)
	if err != nil {
		t.Fatal(err)
	}
	a, b := startChild(t, "ensure", cache), startChild(t, "ensure", cache)
	for _, c := range []*child{a, b} {
		c.waitFor(t, fmt.Sprintf("waiting for process %d to finish building kubeconform", os.Getpid()))
	}
	unlock()
	for _, c := range []*child{a, b} {
		select {
		case err := <-c.done:
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, c.output())
			}
		case <-time.After(5 * time.Minute):
			t.Fatalf("child did not finish:\n%s", c.output())
		}
	}
	all := a.output() + b.output()
	if n := strings.Count(all, "installing kubeconform"); n != 1 {
		t.Errorf("kubeconform was built %d times, want once:\n%s", n, all)
	}
	if !strings.Contains(all, "built by another process") {
		t.Errorf("the waiting process did not say it used the other's build:\n%s", all)
	}
	if !strings.Contains(all, "tollgate tests: ") {
		t.Errorf("progress lines do not say they come from the test setup:\n%s", all)
	}
	if st := in.Check(kc); !st.Installed {
		t.Errorf("kubeconform not installed after both children: %+v", st)
	}
	leftovers, _ := filepath.Glob(filepath.Join(cache, "tools", "kubeconform", ".build-*"))
	if len(leftovers) > 0 {
		t.Errorf("temp build dirs left behind: %v", leftovers)
	}
}

// The lock is the kernel's: a holder that dies (a killed test binary, Ctrl-C during a build)
// releases it, and the next installer goes ahead instead of waiting forever.
func TestLockReleasedWhenHolderDies(t *testing.T) {
	cache := t.TempDir()
	kc := MustGet("kubeconform")
	holder := startChild(t, "hold", cache)
	holder.waitFor(t, "locked")

	var progress strings.Builder
	in := &Installer{CacheDir: cache, Progress: &progress}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := in.lockTool(ctx, kc)
	cancel()
	if err == nil || !strings.Contains(progress.String(), fmt.Sprintf("waiting for process %d", holder.cmd.Process.Pid)) {
		t.Fatalf("lock held by a live process: err %v, progress %q", err, progress.String())
	}
	if err := holder.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-holder.done
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := in.lockTool(ctx, kc)
	if err != nil {
		t.Fatalf("lock not released by a killed holder: %v", err)
	}
	unlock()
}

// A build that cannot succeed fails the test setup with the reason and what to run, rather
// than letting tests start without their tool.
func TestEnsureForTestsReportsFailure(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no Go toolchain
	var progress strings.Builder
	err := ensureForTests(context.Background(), t.TempDir(), &progress, time.Time{}, "gator")
	if err == nil || !strings.Contains(err.Error(), "Go toolchain") || !strings.Contains(err.Error(), "go run ./cmd/tollgate tools install gator") {
		t.Fatalf("want a failure naming the install command, got %v", err)
	}
	if err := ensureForTests(context.Background(), t.TempDir(), &progress, time.Time{}, "grype"); err == nil {
		t.Error("unknown tool accepted")
	}
}

func TestKillDeadline(t *testing.T) {
	saved := os.Args
	defer func() { os.Args = saved }()
	for _, tc := range []struct {
		args []string
		want time.Duration // 0: no deadline
	}{
		{[]string{"x", "-test.timeout=10m0s"}, 11 * time.Minute},
		{[]string{"x", "-test.paniconexit0", "--test.timeout", "30s"}, 90 * time.Second},
		{[]string{"x", "-test.timeout=0s"}, 0},
		{[]string{"x", "-test.run=Foo"}, 0},
	} {
		os.Args = tc.args
		got := killDeadline()
		if tc.want == 0 {
			if !got.IsZero() {
				t.Errorf("%v: deadline %v, want none", tc.args, got)
			}
			continue
		}
		if d := time.Until(got); d > tc.want || d < tc.want-5*time.Second {
			t.Errorf("%v: deadline in %v, want %v", tc.args, d, tc.want)
		}
	}
	// The warning comes before the deadline, naming the tool and the way out.
	var b strings.Builder
	pw := &prefixWriter{w: &b, prefix: "p: "}
	stop := warnNearDeadline(pw, MustGet("trivy"), time.Now().Add(20*time.Second))
	defer stop()
	time.Sleep(200 * time.Millisecond)
	pw.mu.Lock()
	out := b.String()
	pw.mu.Unlock()
	if !strings.HasPrefix(out, "p: trivy v0.74.0 is still building") || !strings.Contains(out, "tools install trivy") {
		t.Errorf("deadline warning = %q", out)
	}
}
