package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The exec-level tests run the real `tollgate` binary, as a user or CI script would, and read
// its JSON output and exit code.

var cliBuild struct {
	once sync.Once
	path string
	err  error
}

// tollgateCLI builds cmd/tollgate once per test binary run.
func tollgateCLI(t *testing.T) string {
	t.Helper()
	cliBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "tollgate-cli-*")
		if err != nil {
			cliBuild.err = err
			return
		}
		cliBuild.path = filepath.Join(dir, "tollgate")
		cmd := exec.Command("go", "build", "-o", cliBuild.path, "./cmd/tollgate")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			cliBuild.err = errors.New("go build ./cmd/tollgate: " + err.Error() + "\n" + string(out))
		}
	})
	if cliBuild.err != nil {
		t.Fatal(cliBuild.err)
	}
	return cliBuild.path
}

type cliFinding struct {
	Rule     string            `json:"rule"`
	Severity string            `json:"severity"`
	Message  string            `json:"message"`
	File     string            `json:"file"`
	Line     int               `json:"line"`
	Resource string            `json:"resource"`
	Fix      string            `json:"fix"`
	Blocking bool              `json:"blocking"`
	Extra    map[string]string `json:"extra"`
}

type cliReport struct {
	Passed   bool `json:"passed"`
	ExitCode int  `json:"exit_code"`
	Stages   []struct {
		Stage      string       `json:"stage"`
		Status     string       `json:"status"`
		Error      string       `json:"error"`
		ErrorKind  string       `json:"error_kind"`
		Findings   []cliFinding `json:"findings"`
		Suppressed []cliFinding `json:"suppressed"`
	} `json:"stages"`
}

// runCLI runs `tollgate ARGS --format json` in dir and returns the exit code, report and stderr.
func runCLI(t *testing.T, dir string, args ...string) (int, cliReport, string) {
	t.Helper()
	full := append(args, "--format", "json", "--out", "", "--progress", "none", "--no-install")
	cmd := exec.Command(tollgateCLI(t), full...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep cliReport
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
		}
	}
	if strings.Contains(stderr.String(), "unknown command") {
		t.Fatalf("tollgate: %s", stderr.String())
	}
	return code, rep, stderr.String()
}
