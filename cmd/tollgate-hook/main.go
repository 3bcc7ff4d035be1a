// Command tollgate-hook is the tollgate command under a name of its own, for pre-commit's
// `language: golang` hooks (.pre-commit-hooks.yaml): pre-commit installs a hook repository with
// `go install ./...`, and the Dagger module at this repository's root is also a main package
// named tollgate, so a hook calling `tollgate` could get the module's binary instead.
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
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
