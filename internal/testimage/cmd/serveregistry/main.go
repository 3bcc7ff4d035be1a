// Command serveregistry serves a loopback OCI registry holding the fixture base image of
// fixtures/demo-build (tollgate/base:3.19), for trying the build and push stages offline:
//
//	go run ./internal/testimage/cmd/serveregistry [-addr 127.0.0.1:5055] [-base-mb N]
//
// It runs until interrupted. Images pushed to it are kept in memory only. -base-mb adds an
// incompressible layer of N MiB to the base image (ci/bench-build.sh uses it for real pull and
// unpack work).
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5055", "loopback address to listen on")
	mb := flag.Int("base-mb", 0, "add an incompressible layer of this many MiB to the base image")
	flag.Parse()
	if err := run(*addr, *mb); err != nil {
		fmt.Fprintln(os.Stderr, "serveregistry:", err)
		os.Exit(1)
	}
}

func run(addr string, mb int) error {
	if !config.IsLoopback(addr) {
		return fmt.Errorf("%s is not a loopback address: the fixture registry serves this machine only", addr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(l)
	defer srv.Close()

	dir, err := os.MkdirTemp("", "serveregistry-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tool, err := testimage.BuilderTool(ctx, dir)
	if err != nil {
		return err
	}
	img, err := testimage.Builder(tool)
	if err != nil {
		return err
	}
	if mb > 0 {
		if img, err = addBulk(img, mb); err != nil {
			return err
		}
	}
	ref := l.Addr().String() + "/" + testimage.BuilderRepository + ":" + testimage.BuilderTag
	if err := testimage.Push(img, ref); err != nil {
		return err
	}
	fmt.Printf("serving %s on http://%s (Ctrl-C stops)\n", ref, l.Addr())
	<-ctx.Done()
	if err := srv.Shutdown(context.Background()); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// addBulk appends a layer holding mb MiB of seeded random bytes (the same every run).
func addBulk(img v1.Image, mb int) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rng := rand.New(rand.NewChaCha8([32]byte{'t', 'o', 'l', 'l', 'g', 'a', 't', 'e'}))
	chunk := make([]byte, 1<<20)
	for i := 0; i < mb; i++ {
		for j := range chunk {
			chunk[j] = byte(rng.Uint32())
		}
		hdr := &tar.Header{Name: fmt.Sprintf("opt/bulk/%04d.bin", i), Mode: 0o644, Size: int64(len(chunk)), ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(chunk); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(img, l)
}
