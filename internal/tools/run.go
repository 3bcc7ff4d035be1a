package tools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Cmd is one tool invocation for the native runner. Stages build Args with the same functions
// the Dagger module uses, so only where the process runs differs.
type Cmd struct {
	Path    string   // binary
	Args    []string // arguments, without the binary
	Dir     string
	Env     []string // added to a minimal environment; secrets go here, never in Args
	Timeout time.Duration
	// Nice, when above 0, is the process's nice value (Linux): tollgate serve runs its scanners
	// below the priority of acknowledging pushes. Only the process is lowered, never a thread
	// that runs the caller's Go code (see start).
	Nice int
}

// Result is what a tool process left behind.
type Result struct {
	ExitCode int
	Stdout   []byte
	Stderr   []byte
	Duration time.Duration
}

// Run executes the command. A non-zero exit is not an error (tools use it to report findings);
// a crash, a kill by signal, a timeout or a failure to start is a *model.ToolError.
func Run(ctx context.Context, name string, c Cmd) (*Result, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(baseEnv(), c.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	began := time.Now()
	err := start(cmd, c.Nice)
	if err == nil {
		err = cmd.Wait()
	}
	res := &Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(began)}
	if ctx.Err() != nil {
		return res, &model.ToolError{Tool: name, Err: fmt.Errorf("did not finish: %w (after %s)", ctx.Err(), res.Duration.Round(time.Millisecond))}
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if ee.ExitCode() < 0 { // killed by a signal
			return res, &model.ToolError{Tool: name, Err: fmt.Errorf("crashed (%s): %s", ee, lastLines(res.Stderr, 5))}
		}
		return res, nil
	default:
		return res, &model.ToolError{Tool: name, Err: fmt.Errorf("could not start %s: %w", c.Path, err)}
	}
}

// start starts cmd, at nice value nice when it is above 0. Linux keeps the nice value per
// thread and a child inherits the value of the thread that forks it, so the fork happens on a
// thread of its own, locked and lowered first, that runs nothing else and ends with its
// goroutine (an unprivileged thread cannot raise its priority again). Lowering the thread that
// runs the caller's Go code instead stalls the whole process: while the kernel leaves that
// thread waiting it holds one of the runtime's Ps, and a garbage collection's stop-the-world
// waits for it.
func start(cmd *exec.Cmd, nice int) error {
	var err error
	Niced(nice, func() { err = cmd.Start() })
	return err
}

// Niced runs fn on an OS thread of its own at nice value nice (Linux; elsewhere, or when nice is
// not above 0, at the caller's priority) and returns when fn does. The thread ends with fn, so
// no other goroutine ever runs at the lowered priority; goroutines fn starts are not lowered.
// It is for in-process work beside a tool that sets the pace (Cmd.Nice is for tools).
func Niced(nice int, fn func()) {
	if nice <= 0 || runtime.GOOS != "linux" {
		fn()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if isMainThread() {
			// The main thread never exits (the runtime parks it instead) and ps shows its nice
			// value as the process's: hold it while another thread does the work.
			Niced(nice, fn)
			runtime.UnlockOSThread()
			return
		}
		// Never unlocked: the lowered thread exits with this goroutine. If lowering fails, fn
		// runs at the caller's priority.
		_ = lowerThreadPriority(nice)
		fn()
	}()
	<-done
}

// baseEnv passes through only what tools need to work (paths, proxies, home, temp), so
// unrelated secrets in the caller's environment do not leak into tool processes or their logs.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "TMPDIR", k == "USER", k == "LANG", k == "TZ",
			k == "SSL_CERT_FILE", k == "SSL_CERT_DIR", k == "DOCKER_CONFIG",
			strings.EqualFold(k, "HTTP_PROXY"), strings.EqualFold(k, "HTTPS_PROXY"), strings.EqualFold(k, "NO_PROXY"):
			env = append(env, kv)
		}
	}
	return env
}

// LastLines returns the last n non-empty lines of tool output, for error messages.
func LastLines(b []byte, n int) string { return lastLines(b, n) }

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BatchGCEnv is the Go runtime setting for kube-score, which decodes every object into the
// Kubernetes API types and exits: its heap is mostly garbage, and collecting it at the default
// pace took a fifth of its wall time on a 250-file tree (82 ms -> 65 ms best of 10 with GOGC=400,
// issue 14). kubeconform showed no gain within the noise and keeps the default.
func BatchGCEnv() []string { return []string{"GOGC=400"} }

// ImageGCEnv is the Go runtime setting for syft and trivy on an image. Their heaps are hundreds
// of MB, so the pace is raised less than kube-score's: on the 352 MB benchmark image it saves
// about 0.3 s of syft's 2.6 CPU-seconds, which trivy, running beside it, uses instead (peak
// memory of the two about 60 MiB higher; ci/bench-scan.sh, issue 14).
func ImageGCEnv() []string { return []string{"GOGC=200"} }
