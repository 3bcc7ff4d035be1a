package tools

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestPins(t *testing.T) {
	seen := map[string]bool{}
	for _, tl := range All() {
		if seen[tl.Name] {
			t.Errorf("duplicate pin %s", tl.Name)
		}
		seen[tl.Name] = true
		if !strings.HasPrefix(tl.Version, "v") || !strings.HasPrefix(tl.Package, tl.Module) {
			t.Errorf("%s: version %q / package %q not under module %q", tl.Name, tl.Version, tl.Package, tl.Module)
		}
		// The image tag must be the same release as the Go module version.
		_, tag, ok := strings.Cut(tl.Image[strings.LastIndex(tl.Image, "/")+1:], ":")
		if !ok || strings.TrimPrefix(tag, "v") != strings.TrimPrefix(tl.Version, "v") {
			t.Errorf("%s: image %s does not match version %s", tl.Name, tl.Image, tl.Version)
		}
		if !strings.HasPrefix(tl.ImageBinary, "/") {
			t.Errorf("%s: image binary %q must be absolute (images without a shell)", tl.Name, tl.ImageBinary)
		}
	}
	for _, n := range []string{"trivy", "syft", "cosign", "kubeconform", "kube-score", "gator", "kube-apiserver"} {
		if !seen[n] {
			t.Errorf("missing pin %s", n)
		}
	}
	// A k8s.io/kubernetes command pins the staging modules of the same release: v1.X.Y -> v0.X.Y.
	if ka := MustGet("kube-apiserver"); ka.StagingVersion != "v0"+strings.TrimPrefix(ka.Version, "v1") {
		t.Errorf("kube-apiserver %s: staging version %q is not the same release", ka.Version, ka.StagingVersion)
	}
	if _, err := Get("grype"); err == nil {
		t.Error("unknown tool accepted")
	}
	if tr := MustGet("trivy"); len(tr.Env) == 0 || tr.Env[0] != "GOEXPERIMENT=jsonv2" {
		t.Errorf("trivy must build with GOEXPERIMENT=jsonv2, env = %v", tr.Env)
	}
}

// Development tools are pinned like the others but are not pipeline tools: no image, not in All
// (so not in `tollgate tools install` nor in the Dagger lab's images), not reachable with Get.
func TestDevTools(t *testing.T) {
	al, err := DevTool("actionlint")
	if err != nil || al.Image != "" || !strings.HasPrefix(al.Version, "v") || !strings.HasPrefix(al.Package, al.Module) {
		t.Fatalf("actionlint: %+v, %v", al, err)
	}
	for _, tl := range All() {
		if tl.Name == al.Name {
			t.Error("a development tool is among the pipeline tools")
		}
	}
	if _, err := Get("actionlint"); err == nil {
		t.Error("Get finds a development tool")
	}
	if _, err := DevTool("trivy"); err == nil {
		t.Error("DevTool finds a pipeline tool")
	}
}

// TestInstallFromModuleCache builds a real pinned tool with `go install` into an empty cache,
// with the proxy turned off: TestMain fetched kubeconform's modules into the module cache.
func TestInstallFromModuleCache(t *testing.T) {
	kc := MustGet("kubeconform")
	offlineProxy(t)
	var progress strings.Builder
	in := &Installer{CacheDir: t.TempDir(), AutoInstall: true, Progress: &progress}
	if st := in.Check(kc); st.Installed {
		t.Fatal("empty cache reports installed")
	}
	p, err := in.Ensure(context.Background(), "kubeconform")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := BinaryVersion(p, kc); err != nil || v != kc.Version {
		t.Fatalf("installed version %q, %v", v, err)
	}
	if !strings.Contains(progress.String(), "installed kubeconform") {
		t.Errorf("no progress reported: %q", progress.String())
	}
	// A binary of the wrong tool in the slot is detected, not trusted.
	other := MustGet("kube-score")
	if err := os.MkdirAll(in.Dir(other), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p, in.Path(other)); err != nil {
		t.Fatal(err)
	}
	if st := in.Check(other); st.Installed || st.Err == nil {
		t.Errorf("kubeconform binary accepted as kube-score: %+v", st)
	}
}

func TestEnsureWithoutAutoInstall(t *testing.T) {
	in := &Installer{CacheDir: t.TempDir()}
	_, err := in.Ensure(context.Background(), "trivy")
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "tollgate tools install trivy") {
		t.Fatalf("want a not-installed error that says what to run, got %v", err)
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		script   string
		timeout  time.Duration
		wantCode int
		wantTool bool
	}{
		{"success", "echo out; echo err >&2", 0, 0, false},
		{"findings exit", "exit 1", 0, 1, false},
		{"killed by signal", "kill -SEGV $$", 0, -1, true},
		{"timeout", "sleep 5", 100 * time.Millisecond, -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(ctx, "fake", Cmd{Path: sh, Args: []string{"-c", tt.script}, Timeout: tt.timeout})
			var te *model.ToolError
			if tt.wantTool != errors.As(err, &te) {
				t.Fatalf("err = %v, want tool error %v", err, tt.wantTool)
			}
			if !tt.wantTool && res.ExitCode != tt.wantCode {
				t.Errorf("exit = %d, want %d", res.ExitCode, tt.wantCode)
			}
			if tt.name == "success" && (string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n") {
				t.Errorf("stdout %q stderr %q", res.Stdout, res.Stderr)
			}
		})
	}
	if _, err := Run(ctx, "missing", Cmd{Path: "/nonexistent/tool"}); err == nil {
		t.Error("missing binary must be a tool error")
	}
}

// TestRunNice checks that Cmd.Nice lowers the tool process and no thread of the caller: a
// lowered thread left running Go code stalls the whole process (tollgate serve's scanners).
func TestRunNice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("nice is per thread on Linux only")
	}
	nice, err := exec.LookPath("nice") // coreutils: prints its niceness
	if err != nil {
		t.Skip("no nice binary")
	}
	for _, want := range []int{7, 0} {
		res, err := Run(context.Background(), "nice", Cmd{Path: nice, Nice: want})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(res.Stdout)); got != strconv.Itoa(want) {
			t.Errorf("Nice %d: the tool ran at nice %s", want, got)
		}
	}
	// The lowered thread ends with the goroutine that forked on it, a moment after Start.
	if lowered := waitUnlowered(t); len(lowered) > 0 {
		t.Errorf("threads of the caller left lowered: %v", lowered)
	}
}

// TestNiced checks that Niced runs its function at the lowered priority, on a thread of its own
// that does not outlive it.
func TestNiced(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("nice is per thread on Linux only")
	}
	threadNice := func() string {
		b, err := os.ReadFile("/proc/thread-self/stat")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))[16]
	}
	for _, want := range []int{9, 0} {
		var got string
		Niced(want, func() { got = threadNice() })
		if got != strconv.Itoa(want) {
			t.Errorf("Niced(%d): the function ran at nice %s", want, got)
		}
	}
	if lowered := waitUnlowered(t); len(lowered) > 0 {
		t.Errorf("threads left lowered after Niced returned: %v", lowered)
	}
}

// waitUnlowered waits up to 5 s for every lowered thread to end, and returns those left.
func waitUnlowered(t *testing.T) []string {
	var lowered []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if lowered = loweredThreads(t); len(lowered) == 0 {
			return nil
		}
	}
	return lowered
}

// loweredThreads lists this process's threads whose nice value is not 0.
func loweredThreads(t *testing.T) []string {
	tasks, err := filepath.Glob("/proc/self/task/*/stat")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads: %v", err)
	}
	var out []string
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread has ended
		}
		// Fields after the command name: the state is the line's 3rd field, nice its 19th.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) > 16 && fields[16] != "0" {
			out = append(out, filepath.Base(filepath.Dir(f))+" at nice "+fields[16])
		}
	}
	return out
}

func TestRunDoesNotLeakEnvironment(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "hunter2")
	res, err := Run(context.Background(), "env", Cmd{Path: "/usr/bin/env", Env: []string{"EXPLICIT=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Stdout), "hunter2") || !strings.Contains(string(res.Stdout), "EXPLICIT=1") {
		t.Errorf("environment passed to tool: %s", res.Stdout)
	}
}

func TestStagingGoMod(t *testing.T) {
	ka := MustGet("kube-apiserver")
	upstream := []byte(`module k8s.io/kubernetes

go 1.26.0

require (
	k8s.io/api v0.0.0
	github.com/spf13/cobra v1.10.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	github.com/example/fork => github.com/example/fork v1.2.3
)
`)
	got, err := StagingGoMod(ka, upstream)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"module tollgate.local/build/kube-apiserver",
		"go 1.26.0",
		"require k8s.io/kubernetes " + ka.Version,
		"k8s.io/api => k8s.io/api " + ka.StagingVersion,
		"k8s.io/client-go => k8s.io/client-go " + ka.StagingVersion,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("generated go.mod lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "example/fork") || strings.Contains(string(got), "./staging") {
		t.Errorf("generated go.mod copies a non-staging or local replace:\n%s", got)
	}
	if _, err := StagingGoMod(ka, []byte("module k8s.io/kubernetes\n\ngo 1.26.0\n")); err == nil {
		t.Error("a go.mod without staging replaces must be refused (the recipe no longer fits)")
	}
}
