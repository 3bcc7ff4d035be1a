// Package cli is the native `tollgate` command: flags and wiring only. The work happens in
// the pipeline and stage packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Version is Tollgate's version.
const Version = model.Version

// exitError carries an exit code out of a cobra command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// Main runs the CLI with args and returns the process exit code:
// 0 all gates passed, 1 a gate failed, 2 bad usage, config or input, 3 a tool or infrastructure error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return model.ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "tollgate: %v\n", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors are usage errors (unknown flag, wrong argument count).
	fmt.Fprintf(stderr, "tollgate: %v\nRun 'tollgate --help' for usage.\n", err)
	return model.ExitUsage
}

// classify maps an error to an exit code: input errors 2, everything else 3.
func classify(err error) error {
	var ie *model.InputError
	if errors.As(err, &ie) {
		return &exitError{code: model.ExitUsage, err: err}
	}
	return &exitError{code: model.ExitTool, err: err}
}

type globalOpts struct {
	config   string
	outDir   string
	format   string
	cacheDir string
	noAuto   bool
	failOn   string
	progress string
	noCache  bool
	// changed is `run --changed REV` (run only).
	changed string
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globalOpts{}
	root := &cobra.Command{
		Use:   "tollgate",
		Short: "Secure delivery gates for containerised apps, without a container engine",
		Long: `tollgate runs Tollgate's pipeline natively: Dockerfile lint, Kubernetes manifest
validation and scoring, SBOM and vulnerability scan, each behind a gate that fails closed;
then, once every gate passed, signing, attesting and verifying the image with cosign.

Exit codes: 0 all gates passed, 1 a gate failed, 2 bad usage, config or input,
3 a tool or infrastructure error (crash, timeout, unreadable output).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.config, "config", "c", "", "config file (default: tollgate.yaml in the project directory, if present)")
	pf.StringVar(&g.outDir, "out", "tollgate-reports", "directory for all report formats and artifacts (\"\" writes none)")
	pf.StringVarP(&g.format, "format", "f", "table", "format printed on stdout: table, json, sarif, junit, markdown")
	pf.StringVar(&g.cacheDir, "cache-dir", "", "tool and schema cache (default $TOLLGATE_CACHE_DIR or the user cache dir)")
	pf.BoolVar(&g.noAuto, "no-install", false, "fail instead of building a missing pinned tool")
	pf.StringVar(&g.failOn, "fail-on", "", "lowest severity that fails a gate (overrides tollgate.yaml): CRITICAL, HIGH, MEDIUM, LOW, INFO")
	pf.StringVar(&g.progress, "progress", "auto", "progress view on stderr: auto, live, plain, none")
	pf.BoolVar(&g.noCache, "no-cache", false, "run every stage instead of reading cached results (fresh results still replace cached ones)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: model.ExitUsage, err: fmt.Errorf("%w\nRun '%s --help' for usage", err, c.CommandPath())}
	})

	root.AddCommand(newRunCmd(g, stdout, stderr))
	root.AddCommand(newInitCmd(stdout, stderr))
	for _, c := range newStageCmds(g, stdout, stderr) {
		root.AddCommand(c)
	}
	root.AddCommand(newToolsCmd(g, stdout, stderr))
	root.AddCommand(newSchemasCmd(g, stdout, stderr))
	root.AddCommand(newCacheCmd(g, stdout))
	root.AddCommand(newKeysCmd(g, stdout, stderr))
	root.AddCommand(newServeCmd(g, stdout, stderr))
	return root
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
