// Command benchscan runs Tollgate's sbom and scan stages on one image the way the pipeline runs
// them (in parallel, the image opened once), for ci/bench-scan.sh. It prints one line per stage
// and the wall time, and exits non-zero unless both stages completed.
//
//	go run ./ci/benchscan -image fixture.tar -trivy-cache DIR -out reports/
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	_ "github.com/tollgate-dev/tollgate/internal/gctune" // the GC pace cmd/tollgate runs with
	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/pipeline"
	"github.com/tollgate-dev/tollgate/internal/sbom"
	"github.com/tollgate-dev/tollgate/internal/scan"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

func main() {
	img := flag.String("image", "", "image input (tarball, OCI layout dir or reference)")
	cache := flag.String("trivy-cache", "", "trivy cache dir holding the offline DB (db/trivy.db)")
	out := flag.String("out", "", "reports dir")
	naive := flag.Bool("print-naive", false, "print the naive sequence (syft, then trivy, with the same arguments the stages use) as shell lines, and exit")
	flag.Parse()
	if *img == "" || *cache == "" {
		fmt.Fprintln(os.Stderr, "benchscan: -image and -trivy-cache are required")
		os.Exit(2)
	}
	cfg := config.Default()
	cfg.Scan.Image = *img
	cfg.Scan.DB.Offline = true
	cfg.Scan.DB.CacheDir = *cache
	if *naive {
		if err := printNaive(cfg, *img, *out); err != nil {
			fmt.Fprintln(os.Stderr, "benchscan:", err)
			os.Exit(3)
		}
		return
	}
	work, err := os.MkdirTemp("", "benchscan-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchscan:", err)
		os.Exit(3)
	}
	wd, _ := os.Getwd()
	env := &stage.Env{Root: wd, Config: cfg, OutDir: *out, WorkDir: work, Now: time.Now,
		Tools: &tools.Installer{CacheDir: tools.DefaultCacheDir()}}
	start := time.Now()
	run := pipeline.Run(context.Background(), env, []stage.Stage{sbom.Stage(), scan.Stage()}, nil)
	wall := time.Since(start)
	code := 0
	for _, r := range run.Stages {
		fmt.Printf("stage %-5s %-7s %6.2fs %d findings %s\n", r.Stage, r.Status, r.Duration.Seconds(), len(r.Findings), r.Error)
		if r.Status == model.StatusError || r.Status == model.StatusSkipped {
			code = 3
		}
	}
	fmt.Printf("wall %.2f\n", wall.Seconds())
	os.RemoveAll(work) // os.Exit skips deferred calls
	os.Exit(code)
}

// printNaive prints `SYFT_CMD=...` and `TRIVY_CMD=...` shell lines: the two tools run by hand,
// one after the other, with exactly the arguments the stages pass.
func printNaive(cfg *config.Config, input, out string) error {
	ctx := context.Background()
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir()}
	syft, err := in.Ensure(ctx, "syft")
	if err != nil {
		return err
	}
	trivy, err := in.Ensure(ctx, "trivy")
	if err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "benchscan-naive-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	src, err := image.Open(ctx, input, scratch)
	if err != nil {
		return err
	}
	if src.Kind == image.KindOCIArchive {
		return fmt.Errorf("use a docker archive or OCI layout dir: the naive sequence cannot give trivy an OCI archive")
	}
	formats, err := sbom.FormatsFor(cfg.SBOM.Formats)
	if err != nil {
		return err
	}
	opts, err := scan.OptionsFrom(cfg, ".")
	if err != nil {
		return err
	}
	syftCmd := append([]string{syft}, sbom.Args(src.SyftArg(), formats, out, "")...)
	trivyCmd := append([]string{trivy}, scan.ImageArgs(opts, src.TrivyArgs(), filepath.Join(out, scan.ReportFile))...)
	fmt.Printf("SYFT_CMD=(%s)\nTRIVY_CMD=(%s)\nSYFT_ENV=(%s)\n", shellJoin(syftCmd), shellJoin(trivyCmd), shellJoin(sbom.Env()))
	return nil
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
