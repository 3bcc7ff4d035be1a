package tools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
	start := time.Now()
	err := cmd.Run()
	res := &Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
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
