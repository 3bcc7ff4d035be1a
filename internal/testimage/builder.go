package testimage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// BuilderRepository is where fixture registries serve the Builder image (tag BuilderTag).
const (
	BuilderRepository = "tollgate/base"
	BuilderTag        = "3.19"
)

// builderToolSource is a static program that stands in for a shell and a package manager in the
// Builder base image, so Dockerfiles built in tests can RUN steps without any download:
//
//	sh -c "CMD ARGS && CMD ARGS"   (the image's /bin/sh; no quoting, no variables)
//	apk-add NAME VERSION ORIGIN    record an Alpine package in /lib/apk/db/installed
//	npm-add NAME VERSION DIR       install DIR/node_modules/NAME/package.json
//	write FILE WORDS...            write WORDS to FILE
//	sha256 SRC DST                 write the hex SHA-256 of SRC to DST
//	rounds N FILE                  N rounds of SHA-256 into FILE: CPU work standing in for a compile
//	echo WORDS... | sleep SECONDS | fail WORDS... (prints WORDS, exits 3)
const builderToolSource = `package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	args := os.Args[1:]
	if len(args) == 2 && args[0] == "-c" {
		for _, cmd := range strings.Split(args[1], "&&") {
			if code := run(strings.Fields(cmd)); code != 0 {
				os.Exit(code)
			}
		}
		return
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: sh -c 'COMMAND ARGS && ...'")
		os.Exit(2)
	}
	os.Exit(run(args))
}

func run(a []string) int {
	if len(a) == 0 {
		return 0
	}
	need := func(n int) bool {
		if len(a)-1 < n {
			fmt.Fprintf(os.Stderr, "%s: want %d arguments\n", a[0], n)
			return false
		}
		return true
	}
	var err error
	switch a[0] {
	case "apk-add":
		if !need(3) {
			return 2
		}
		err = appendFile("/lib/apk/db/installed", fmt.Sprintf("C:Q1%s=\nP:%s\nV:%s\nA:x86_64\nS:100000\nI:300000\nT:%s\nU:https://example.invalid/%s\nL:MIT\no:%s\nt:1700000000\n\n",
			strings.Repeat("B", 27), a[1], a[2], a[1]+" (installed by a RUN step)", a[3], a[3]))
		fmt.Println("installed", a[1], a[2])
	case "npm-add":
		if !need(3) {
			return 2
		}
		dir := filepath.Join(a[3], "node_modules", a[1])
		if err = os.MkdirAll(dir, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(dir, "package.json"), []byte("{\"name\": \""+a[1]+"\", \"version\": \""+a[2]+"\", \"license\": \"MIT\"}\n"), 0o644)
		}
		fmt.Println("added", a[1]+"@"+a[2])
	case "write":
		if !need(1) {
			return 2
		}
		if err = os.MkdirAll(filepath.Dir(a[1]), 0o755); err == nil {
			err = os.WriteFile(a[1], []byte(strings.Join(a[2:], " ")+"\n"), 0o644)
		}
	case "sha256":
		if !need(2) {
			return 2
		}
		var b []byte
		if b, err = os.ReadFile(a[1]); err == nil {
			sum := sha256.Sum256(b)
			err = os.WriteFile(a[2], []byte(hex.EncodeToString(sum[:])+"\n"), 0o644)
		}
	case "rounds":
		if !need(2) {
			return 2
		}
		n, _ := strconv.Atoi(a[1])
		sum := sha256.Sum256([]byte(a[2]))
		for i := 0; i < n; i++ {
			sum = sha256.Sum256(sum[:])
		}
		err = os.WriteFile(a[2], []byte(hex.EncodeToString(sum[:])+"\n"), 0o644)
	case "echo":
		fmt.Println(strings.Join(a[1:], " "))
	case "sleep":
		if !need(1) {
			return 2
		}
		n, _ := strconv.Atoi(a[1])
		time.Sleep(time.Duration(n) * time.Second)
	case "fail":
		for _, w := range a[1:] {
			fmt.Println(w)
		}
		return 3
	default:
		fmt.Fprintf(os.Stderr, "sh: %s: not found\n", a[0])
		return 127
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, a[0]+":", err)
		return 1
	}
	return 0
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
`

// BuilderTool compiles the helper of the Builder image (a static Linux binary for this
// machine's architecture, which is what a native build runs). Needs the go command; no network.
func BuilderTool(ctx context.Context, workDir string) ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("build fixture builder tool: the go command is needed: %w", err)
	}
	dir, err := os.MkdirTemp(workDir, "buildertool-*")
	if err != nil {
		return nil, fmt.Errorf("build fixture builder tool: %w", err)
	}
	defer os.RemoveAll(dir)
	for name, content := range map[string]string{
		"go.mod":  "module example.com/tollgate-builder-tool\n\ngo 1.21\n",
		"main.go": builderToolSource,
	} {
		if err := writeFile(filepath.Join(dir, name), []byte(content)); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(dir, "sh")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOPROXY=off",
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build fixture builder tool: go build: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	return os.ReadFile(out)
}

// Builder returns a base image for test builds: the Clean image's Alpine packages plus the
// helper from BuilderTool as /bin/sh, for this machine's architecture. A RUN step can then
// install packages (apk-add, npm-add) that sbom and scan must find in the built image.
func Builder(tool []byte) (v1.Image, error) {
	if len(tool) == 0 {
		return nil, fmt.Errorf("builder image: empty helper binary")
	}
	files := append(alpineFiles(busybox, musl), file{path: "bin/sh", mode: 0o755, data: tool})
	l, err := layer(files)
	if err != nil {
		return nil, err
	}
	img, err := assemble([]string{"/bin/sh"}, l)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	return mutate.ConfigFile(img, cf)
}
