// Command testapiserver runs the test API server (Debian's etcd and the pinned kube-apiserver,
// as the deploy tests do) until interrupted, and writes an admin kubeconfig for it: for trying
// `tollgate deploy` or the Dagger module's Deploy by hand. Nothing runs that acts on objects (no
// controller manager, scheduler or kubelet), so rollouts never finish unless something writes
// their status.
//
//	go run ./internal/testcluster/cmd/testapiserver -kubeconfig /tmp/tg/kubeconfig
//	go run ./internal/testcluster/cmd/testapiserver -listen 10.199.0.1 -kubeconfig /tmp/tg/kubeconfig  # reachable from the Dagger lab's containers
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tollgate-dev/tollgate/internal/testcluster"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

func main() {
	listen := flag.String("listen", "127.0.0.1", "address kube-apiserver binds to")
	kubeconfig := flag.String("kubeconfig", "kubeconfig", "where to write the admin kubeconfig (mode 0600)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "testapiserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, listen, kubeconfig string) error {
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir(), AutoInstall: true, Progress: os.Stderr}
	bin, err := testcluster.Ensure(ctx, in, os.Stderr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tollgate-apiserver-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := testcluster.Start(ctx, bin, dir, testcluster.Options{ListenAddress: listen})
	if err != nil {
		return err
	}
	defer c.Stop()
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o700); err != nil {
		return err
	}
	// Written once the server is ready: scripts wait for the file to appear.
	if err := os.WriteFile(kubeconfig, c.Kubeconfig(c.AdminToken), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "API server ready at %s; admin kubeconfig in %s; Ctrl-C stops it\n", c.URL, kubeconfig)
	<-ctx.Done()
	return nil
}
