package testimage

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// GoModule at GoModuleVersion has CVE-2020-27813 (fixed in 1.4.1).
const (
	GoModule        = "github.com/gorilla/websocket"
	GoModuleVersion = "1.4.0"
)

// GoBinary builds a small linux/amd64 Go program that depends on GoModule v1.4.0 and returns the
// binary. Trivy and syft identify Go dependencies from the module list embedded in the binary
// (debug/buildinfo), so what matters is a real `go build` recording that version. To build with
// the network cut off, the module comes from a file:// module proxy written into workDir: a
// stand-in module with the real path and version but a few lines of code, not the upstream
// source. Needs the go command.
func GoBinary(ctx context.Context, workDir string) ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("build fixture Go binary: the go command is needed: %w", err)
	}
	dir, err := os.MkdirTemp(workDir, "gobinary-*")
	if err != nil {
		return nil, fmt.Errorf("build fixture Go binary: %w", err)
	}
	defer os.RemoveAll(dir)
	proxy := filepath.Join(dir, "proxy")
	if err := writeProxyModule(proxy, GoModule, "v"+GoModuleVersion, map[string]string{
		"go.mod":       "module " + GoModule + "\n\ngo 1.12\n",
		"websocket.go": "// Package websocket is a stand-in with the upstream path and version.\npackage websocket\n\n// Version of the stand-in module.\nconst Version = \"" + GoModuleVersion + "\"\n",
	}); err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "app")
	files := map[string]string{
		"go.mod":  "module example.com/tollgate-fixture-app\n\ngo 1.21\n\nrequire " + GoModule + " v" + GoModuleVersion + "\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"" + GoModule + "\"\n)\n\nfunc main() { fmt.Println(\"fixture app using websocket\", websocket.Version) }\n",
	}
	for name, content := range files {
		if err := writeFile(filepath.Join(src, name), []byte(content)); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(dir, "app.bin")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy), "GOSUMDB=off", "GOWORK=off", "GOTOOLCHAIN=local",
		"GOFLAGS=-mod=mod -modcacherw", "GOMODCACHE="+filepath.Join(dir, "modcache"),
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build fixture Go binary: go build: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("build fixture Go binary: %w", err)
	}
	return b, nil
}

// writeProxyModule lays out one module version as a GOPROXY=file:// directory serves it.
func writeProxyModule(proxy, mod, version string, files map[string]string) error {
	base := filepath.Join(proxy, filepath.FromSlash(mod), "@v")
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for name, content := range files {
		w, err := zw.Create(mod + "@" + version + "/" + name)
		if err != nil {
			return fmt.Errorf("module zip: %w", err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			return fmt.Errorf("module zip: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("module zip: %w", err)
	}
	for name, data := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": []byte(`{"Version":"` + version + `","Time":"2018-08-25T00:00:00Z"}`),
		version + ".mod":  []byte(files["go.mod"]),
		version + ".zip":  zbuf.Bytes(),
	} {
		if err := writeFile(filepath.Join(base, name), data); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
