package tools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// lockPollInterval is how often a waiting installer retries the lock. Polling (rather than a
// blocking flock) keeps the wait cancellable by ctx.
const lockPollInterval = 200 * time.Millisecond

// lockPath is the file whose lock serialises builds of one tool version: it sits in the tool's
// cache dir (CacheDir/tools/NAME/VERSION.lock), so every process sharing the cache (test
// binaries of packages tested in parallel, `tollgate tools install`, a pipeline run) agrees
// on it, and different versions of a tool never wait for each other.
func (in *Installer) lockPath(t Tool) string {
	return filepath.Join(in.CacheDir, "tools", t.Name, t.Version+".lock")
}

// lockTool takes the cross-process build lock of a tool, waiting (and saying so on Progress)
// while another process holds it. The lock is an OS file lock, so the kernel drops it when its
// holder exits or is killed: a crashed build never leaves a stale lock behind.
func (in *Installer) lockTool(ctx context.Context, t Tool) (unlock func(), err error) {
	p := in.lockPath(t)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("install %s: %w", t.Name, err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("install %s: open lock: %w", t.Name, err)
	}
	start := time.Now()
	lastNote := time.Time{}
	for {
		ok, err := tryLock(f)
		if errors.Is(err, errLockUnsupported) {
			f.Close()
			return func() {}, nil
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("install %s: lock %s: %w", t.Name, p, err)
		}
		if ok {
			break
		}
		if lastNote.IsZero() {
			in.progressf("waiting for %s to finish building %s %s (lock %s)...", holder(p), t.Name, t.Version, p)
			lastNote = time.Now()
		} else if time.Since(lastNote) >= 30*time.Second {
			in.progressf("  still waiting for %s %s to be built by %s (%s elapsed)", t.Name, t.Version, holder(p), time.Since(start).Round(time.Second))
			lastNote = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("install %s: waiting for another build: %w", t.Name, ctx.Err())
		case <-time.After(lockPollInterval):
		}
	}
	// Record the holder so a waiting process can say whom it waits for.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = f.Truncate(0)
		_ = unlockFile(f)
		f.Close()
	}, nil
}

// holder names the process that holds a lock, from the PID it wrote into the lock file.
func holder(lockFile string) string {
	b, err := os.ReadFile(lockFile)
	if pid := strings.TrimSpace(string(b)); err == nil && pid != "" {
		return "process " + pid
	}
	return "another process"
}

// errLockUnsupported is returned by tryLock where the OS offers no file lock.
var errLockUnsupported = errors.New("file locks are not supported on this OS")
