package tools

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
)

// kubernetesGoMod writes the go.mod of the throwaway module that builds a command of
// k8s.io/kubernetes (kube-apiserver). `go install k8s.io/kubernetes/cmd/...@vX` is refused because
// that module's go.mod holds replace directives (every k8s.io staging module points at
// ./staging/src/...), so the build module requires k8s.io/kubernetes at the pinned version and
// replaces each staging module named in its go.mod with the published release of the same
// Kubernetes version (t.StagingVersion). The upstream go.mod also says which Go version the
// release needs.
func (in *Installer) kubernetesGoMod(ctx context.Context, goBin string, t Tool, dir string, env []string) ([]byte, error) {
	out, err := in.goCmd(ctx, t, goBin, dir, env, "mod", "download", "-json", t.Module+"@"+t.Version)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w\n%s", t.Module, err, tail(out, 20))
	}
	var dl struct{ GoMod, Error string }
	i := strings.Index(out, "{")
	if i < 0 {
		return nil, fmt.Errorf("read `go mod download` output: %s", tail(out, 5))
	}
	if err := json.Unmarshal([]byte(out[i:]), &dl); err != nil || dl.GoMod == "" {
		return nil, fmt.Errorf("read `go mod download` output: %v %s", err, dl.Error)
	}
	upstream, err := os.ReadFile(dl.GoMod)
	if err != nil {
		return nil, err
	}
	return StagingGoMod(t, upstream)
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
