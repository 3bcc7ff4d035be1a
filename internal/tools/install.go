package tools

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Installer finds pinned tools in a cache dir and builds missing ones with `go install`
// from the Go module proxy (checksums come from the Go checksum database).
type Installer struct {
	// CacheDir is the root of the tool cache; tools live in CacheDir/tools/NAME/VERSION/.
	CacheDir string
	// AutoInstall builds a missing tool on first use instead of failing.
	AutoInstall bool
	// Progress receives human-readable progress lines; nil discards them.
	Progress io.Writer
}

// DefaultCacheDir is $TOLLGATE_CACHE_DIR, else the user cache dir + "/tollgate".
func DefaultCacheDir() string {
	if d := os.Getenv("TOLLGATE_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tollgate")
	}
	return filepath.Join(os.TempDir(), "tollgate-cache")
}

// Dir is where a tool's binary lives.
func (in *Installer) Dir(t Tool) string {
	return filepath.Join(in.CacheDir, "tools", t.Name, t.Version)
}

// Path is the binary's path in the cache (it may not exist yet).
func (in *Installer) Path(t Tool) string { return filepath.Join(in.Dir(t), t.Binary()) }

// Status describes one tool's installation.
type Status struct {
	Tool      Tool
	Path      string
	Installed bool
	Version   string // version read from the binary's Go build info
	Err       error
}

// Check looks for a tool in the cache and verifies its build info matches the pin.
func (in *Installer) Check(t Tool) Status {
	p := in.Path(t)
	st := Status{Tool: t, Path: p}
	if _, err := os.Stat(p); err != nil {
		return st
	}
	v, err := BinaryVersion(p, t)
	st.Version = v
	if err != nil {
		st.Err = err
		return st
	}
	if v != t.Version {
		st.Err = fmt.Errorf("%s at %s is %s, want %s", t.Name, p, v, t.Version)
		return st
	}
	st.Installed = true
	return st
}

// BinaryVersion reads the tool's module version from the Go build info embedded in the binary.
// Tools built with `go install` have no release ldflags, so `--version` is useless for them.
func BinaryVersion(path string, t Tool) (string, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read build info of %s: %w", path, err)
	}
	if bi.Main.Path == t.Module {
		return bi.Main.Version, nil
	}
	for _, d := range bi.Deps {
		if d.Path == t.Module {
			return d.Version, nil
		}
	}
	return "", fmt.Errorf("%s: built from %s, not %s", path, bi.Main.Path, t.Module)
}

// Ensure returns the path of a verified binary for the tool, installing it if allowed.
func (in *Installer) Ensure(ctx context.Context, name string) (string, error) {
	t, err := Get(name)
	if err != nil {
		return "", err
	}
	if st := in.Check(t); st.Installed {
		return st.Path, nil
	}
	if !in.AutoInstall {
		return "", fmt.Errorf("%s %s: %w in %s; run `tollgate tools install %s` (needs Go and the Go module proxy)",
			t.Name, t.Version, ErrNotInstalled, in.CacheDir, t.Name)
	}
	if err := in.Install(ctx, t); err != nil {
		return "", err
	}
	return in.Path(t), nil
}

// Install builds one tool into its cache dir, then verifies it: `go install PACKAGE@VERSION`,
// or, for modules `go install` refuses, a build in a generated module (see build). It builds into
// a temp dir and renames, so an interrupted build never leaves a half binary. Builds of the same
// tool are serialised across processes by a lock file in the tool's cache dir: a second process
// waits (saying so on Progress) and then uses the first one's binary instead of building it again.
func (in *Installer) Install(ctx context.Context, t Tool) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("install %s: the Go toolchain is needed to build pinned tools: %w", t.Name, err)
	}
	unlock, err := in.lockTool(ctx, t)
	if err != nil {
		return err
	}
	defer unlock()
	if st := in.Check(t); st.Installed {
		in.progressf("%s %s is installed (built by another process) at %s", t.Name, t.Version, st.Path)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(in.Dir(t)), 0o755); err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(in.Dir(t)), ".build-*")
	if err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	stopTicker := in.tick(t.Name, start)
	built, err := in.build(ctx, goBin, t, tmp)
	stopTicker()
	if err != nil {
		return fmt.Errorf("install %s %s: %w", t.Name, t.Version, err)
	}
	if v, err := BinaryVersion(built, t); err != nil || v != t.Version {
		return fmt.Errorf("install %s: built binary reports version %q (want %s): %v", t.Name, v, t.Version, err)
	}
	if err := os.MkdirAll(in.Dir(t), 0o755); err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}
	if err := os.Rename(built, in.Path(t)); err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}
	in.progressf("installed %s %s in %s -> %s", t.Name, t.Version, time.Since(start).Round(time.Second), in.Path(t))
	return nil
}

// build compiles the tool into tmp and returns the binary's path. Every module comes from the
// Go module proxy, checked against the checksum database; CGO is off.
//   - default: `go install PACKAGE@VERSION`;
//   - ViaModule: `go install` refuses modules whose go.mod has exclude or replace directives
//     (BuildKit's), so a throwaway module requires Module@Version and `go build`s the package;
//   - StagingVersion: the same for a command of k8s.io/kubernetes, whose go.mod replaces every
//     staging module with a local directory: the throwaway module replaces each of them with its
//     published release instead (see install_kubernetes.go).
func (in *Installer) build(ctx context.Context, goBin string, t Tool, tmp string) (string, error) {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	built := filepath.Join(tmp, t.Binary())
	if !t.ViaModule && t.StagingVersion == "" {
		in.progressf("installing %s %s (go install %s@%s)...", t.Name, t.Version, t.Package, t.Version)
		env = append(append(env, "GOBIN="+tmp), t.Env...)
		if out, err := in.goCmd(ctx, t, goBin, tmp, env, "install", "-trimpath", t.Package+"@"+t.Version); err != nil {
			return "", fmt.Errorf("go install failed: %w\n%s", err, tail(out, 20))
		}
		return built, nil
	}
	src := filepath.Join(tmp, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	env = append(append(env, "GOFLAGS=-mod=mod"), t.Env...)
	gomod := []byte("module tollgate.local/toolbuild/" + t.Name + "\n\ngo 1.26\n")
	ldflags := ""
	if t.StagingVersion != "" {
		in.progressf("installing %s %s (go build %s in a module pinning the k8s.io staging modules to %s)...",
			t.Name, t.Version, t.Package, t.StagingVersion)
		var err error
		if gomod, err = in.kubernetesGoMod(ctx, goBin, t, src, env); err != nil {
			return "", err
		}
		ldflags = versionLDFlags(t.Version)
	} else {
		in.progressf("installing %s %s (go build %s in a module requiring %s@%s)...", t.Name, t.Version, t.Package, t.Module, t.Version)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), gomod, 0o644); err != nil {
		return "", err
	}
	if out, err := in.goCmd(ctx, t, goBin, src, env, "get", t.Package+"@"+t.Version); err != nil {
		return "", fmt.Errorf("go get failed: %w\n%s", err, tail(out, 20))
	}
	args := []string{"build", "-trimpath", "-o", built}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	if out, err := in.goCmd(ctx, t, goBin, src, env, append(args, t.Package)...); err != nil {
		return "", fmt.Errorf("go build failed: %w\n%s", err, tail(out, 20))
	}
	return built, nil
}

// tick prints a heartbeat while a long build runs, so a 10-minute trivy build is not silent.
func (in *Installer) tick(name string, start time.Time) func() {
	if in.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	go func() {
		tk := time.NewTicker(30 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				in.progressf("  still building %s (%s elapsed)", name, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(stop) }
}

func (in *Installer) progressf(format string, args ...any) {
	if in.Progress != nil {
		fmt.Fprintf(in.Progress, format+"\n", args...)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ErrNotInstalled is returned (wrapped) when a tool is missing and auto-install is off.
var ErrNotInstalled = errors.New("tool not installed")
