package tools

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
)

// installKubernetes builds a command of k8s.io/kubernetes (kube-apiserver) from the Go module
// proxy. `go install k8s.io/kubernetes/cmd/...@vX` is refused because that module's go.mod holds
// replace directives (every k8s.io staging module points at ./staging/src/...). The build is
// therefore done in a generated temporary module that requires k8s.io/kubernetes at the pinned
// version and replaces each staging module named in its go.mod with the published release of the
// same Kubernetes version (t.StagingVersion). Every module still comes from the proxy, checked
// against go.sum and the checksum database; CGO is off like for every other tool, and the
// result is verified through its Go build info before it enters the cache.
func (in *Installer) installKubernetes(ctx context.Context, t Tool) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("install %s: the Go toolchain is needed to build pinned tools: %w", t.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(in.Dir(t)), 0o755); err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(in.Dir(t)), ".build-*")
	if err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}
	defer os.RemoveAll(tmp)
	modDir := filepath.Join(tmp, "mod")
	if err := os.Mkdir(modDir, 0o755); err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}

	in.progressf("installing %s %s (go build %s in a module pinning the k8s.io staging modules to %s)...",
		t.Name, t.Version, t.Package, t.StagingVersion)
	start := time.Now()
	stopTicker := in.tick(t.Name, start)
	defer stopTicker()
	env := append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	env = append(env, t.Env...)

	// The upstream go.mod says which staging modules exist and which Go version the release needs.
	out, err := in.goCmd(ctx, t, goBin, modDir, env, "mod", "download", "-json", t.Module+"@"+t.Version)
	if err != nil {
		return fmt.Errorf("install %s %s: download %s: %w\n%s", t.Name, t.Version, t.Module, err, tail(out, 20))
	}
	var dl struct{ GoMod, Error string }
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &dl); err != nil || dl.GoMod == "" {
		return fmt.Errorf("install %s: read `go mod download` output: %v %s", t.Name, err, dl.Error)
	}
	upstream, err := os.ReadFile(dl.GoMod)
	if err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}
	gomod, err := StagingGoMod(t, upstream)
	if err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}
	if err := os.WriteFile(filepath.Join(modDir, "go.mod"), gomod, 0o644); err != nil {
		return fmt.Errorf("install %s: %w", t.Name, err)
	}
	if out, err := in.goCmd(ctx, t, goBin, modDir, env, "get", t.Package+"@"+t.Version); err != nil {
		return fmt.Errorf("install %s %s: go get failed: %w\n%s", t.Name, t.Version, err, tail(out, 20))
	}
	built := filepath.Join(tmp, t.Binary())
	if out, err := in.goCmd(ctx, t, goBin, modDir, env, "build", "-trimpath", "-ldflags", versionLDFlags(t.Version), "-o", built, t.Package); err != nil {
		return fmt.Errorf("install %s %s: go build failed: %w\n%s", t.Name, t.Version, err, tail(out, 20))
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

// versionLDFlags stamps the release version the way Kubernetes' own build does, so the server's
// /version says v1.36.0 rather than a development version (clients check it for version skew).
func versionLDFlags(version string) string {
	major, minor := "", ""
	if parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags, "-X", pkg+".gitVersion="+version, "-X", pkg+".gitMajor="+major, "-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean")
	}
	return strings.Join(flags, " ")
}

// StagingGoMod generates the go.mod of the build module for a k8s.io/kubernetes command: it
// requires the pinned release and replaces every module that the release's own go.mod (upstream)
// replaces with a local ./staging directory by that module at t.StagingVersion.
func StagingGoMod(t Tool, upstream []byte) ([]byte, error) {
	up, err := modfile.Parse(t.Module+"@"+t.Version+"/go.mod", upstream, nil)
	if err != nil {
		return nil, fmt.Errorf("parse go.mod of %s@%s: %w", t.Module, t.Version, err)
	}
	var staging []string
	for _, r := range up.Replace {
		if strings.HasPrefix(r.New.Path, "./staging/") {
			staging = append(staging, r.Old.Path)
		}
	}
	if len(staging) == 0 {
		return nil, fmt.Errorf("%s@%s: go.mod replaces no staging modules; the build recipe no longer fits this release", t.Module, t.Version)
	}
	sort.Strings(staging)
	f := &modfile.File{}
	if err := f.AddModuleStmt("tollgate.local/build/" + t.Name); err != nil {
		return nil, err
	}
	if up.Go != nil {
		if err := f.AddGoStmt(up.Go.Version); err != nil {
			return nil, err
		}
	}
	if err := f.AddRequire(t.Module, t.Version); err != nil {
		return nil, err
	}
	for _, m := range staging {
		if err := f.AddReplace(m, "", m, t.StagingVersion); err != nil {
			return nil, err
		}
	}
	f.Cleanup()
	return f.Format()
}

// goCmd runs one go command for a build, forwarding download lines as progress, and returns its
// combined output.
func (in *Installer) goCmd(ctx context.Context, t Tool, goBin, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out strings.Builder
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			if strings.HasPrefix(line, "go: downloading") {
				in.progressf("  %s: %s", t.Name, line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	return out.String(), err
}
