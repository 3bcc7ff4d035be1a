package resultcache

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// workerEnv makes the test binary a worker process hammering one cache (see TestMain).
const workerEnv = "TOLLGATE_RESULTCACHE_WORKER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(workerEnv); dir != "" {
		if err := worker(dir, os.Getenv(workerEnv+"_ID")); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// worker stores and reads results for a few keys over and over, with a size cap small enough to
// evict all the time, and fails on any result that does not match its key.
func worker(dir, id string) error {
	c := New(filepath.Join(dir, "cache"), Options{MaxSize: 40_000})
	for i := range 300 {
		v := strconv.Itoa(i % 7)
		k := c.NewKey("test")
		k.String("input", v)
		out := filepath.Join(dir, "out-"+id, strconv.Itoa(i))
		if r, ok := c.Get(k, out); ok {
			b, err := os.ReadFile(r.Artifacts[0].Path)
			if r.Summary != "value "+v || len(r.Findings) != 1 || r.Findings[0].Message != v || err != nil || string(b) != strings.Repeat(v, 3000) {
				return fmt.Errorf("key %s served a wrong result: %q %v %q", v, r.Summary, err, b)
			}
			continue
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		art := filepath.Join(out, "raw.json")
		if err := os.WriteFile(art, []byte(strings.Repeat(v, 3000)), 0o644); err != nil {
			return err
		}
		r := &model.StageResult{Stage: "test", Summary: "value " + v,
			Findings:  []model.Finding{{RuleID: "R", Severity: model.SeverityHigh, Message: v}},
			Artifacts: []model.Artifact{{Name: "raw", Path: art}}}
		if err := c.Put(k, r, out); err != nil {
			return err
		}
	}
	return nil
}

// TestTwoProcessesShareOneCache runs two processes on one cache at once: neither may ever read a
// result stored under another key, half an entry, or fail on the other's writes and evictions.
func TestTwoProcessesShareOneCache(t *testing.T) {
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for _, id := range []string{"a", "b"} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), workerEnv+"="+dir, workerEnv+"_ID="+id)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("worker %s output:\n%s", id, out.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	c := New(filepath.Join(dir, "cache"), Options{})
	st, err := c.Prune(-1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries == 0 || st.Bytes > 40_000+8_000 {
		t.Errorf("after the run: %+v (want some entries, about the 40 kB cap)", st)
	}
	for i := range 7 {
		k := c.NewKey("test")
		k.String("input", strconv.Itoa(i))
		if r, ok := c.Get(k, t.TempDir()); ok && r.Summary != "value "+strconv.Itoa(i) {
			t.Errorf("entry %d holds %q", i, r.Summary)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "cache", tmpDir)); len(left) > 0 {
		t.Errorf("temp entries left behind: %d", len(left))
	}
}
