// Command serveregistry serves a loopback OCI registry holding the fixture base image of
// fixtures/demo-build (tollgate/base:3.19), for trying the build and push stages offline:
//
//	go run ./internal/testimage/cmd/serveregistry [-addr 127.0.0.1:5055]
//
// It runs until interrupted. Images pushed to it are kept in memory only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5055", "loopback address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "serveregistry:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
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
