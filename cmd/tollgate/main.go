// Command tollgate runs Tollgate's delivery gates natively, without a container engine.
// See README.md for the commands and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tollgate-dev/tollgate/internal/cli"
	_ "github.com/tollgate-dev/tollgate/internal/gctune" // before the heavy initialisers: see the package
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal cancels the run cleanly; restoring the default handler lets a second
		// one end the process even if some work ignores cancellation.
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
