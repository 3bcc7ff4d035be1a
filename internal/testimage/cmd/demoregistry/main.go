// Command demoregistry runs a local registry for trying signing by hand: Debian's docker-registry
// on 127.0.0.1 (plain HTTP, a free port), with the clean fixture image pushed as tollgate/demo:1
// and a two-platform index as tollgate/demo:multi. When ready it writes the registry's
// host:port to DIR/host; it serves until interrupted.
//
//	go run ./internal/testimage/cmd/demoregistry -dir /tmp/tg/registry
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tollgate-dev/tollgate/internal/testimage"
)

func main() {
	dir := flag.String("dir", "", "directory for the registry's config and storage (required)")
	addr := flag.String("addr", "", "address to listen on (default: a free port on 127.0.0.1)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "demoregistry: -dir is required")
		os.Exit(2)
	}
	if err := run(*dir, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "demoregistry:", err)
		os.Exit(1)
	}
}

func run(dir, addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, "host"))
	reg, err := testimage.StartDistribution(ctx, dir, testimage.DistributionOptions{Addr: addr})
	if err != nil {
		return err
	}
	defer reg.Stop()
	img, err := testimage.Clean()
	if err != nil {
		return err
	}
	single, _ := name.ParseReference(reg.Host + "/tollgate/demo:1")
	if err := remote.Write(single, img); err != nil {
		return err
	}
	idx, err := testimage.Index("linux/amd64", "linux/arm64")
	if err != nil {
		return err
	}
	multi, _ := name.ParseReference(reg.Host + "/tollgate/demo:multi")
	if err := remote.WriteIndex(multi, idx); err != nil {
		return err
	}
	// The host file appears complete, once the images are there.
	tmp := filepath.Join(dir, ".host")
	if err := os.WriteFile(tmp, []byte(reg.Host+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "host")); err != nil {
		return err
	}
	fmt.Printf("serving %s and %s (plain HTTP) until interrupted\n", single, multi)
	<-ctx.Done()
	return nil
}
