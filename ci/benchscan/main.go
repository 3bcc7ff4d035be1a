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
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
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
	flag.Parse()
	if *img == "" || *cache == "" {
		fmt.Fprintln(os.Stderr, "benchscan: -image and -trivy-cache are required")
		os.Exit(2)
	}
	cfg := config.Default()
	cfg.Scan.Image = *img
	cfg.Scan.DB.Offline = true
	cfg.Scan.DB.CacheDir = *cache
	work, err := os.MkdirTemp("", "benchscan-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchscan:", err)
		os.Exit(3)
	}
	defer os.RemoveAll(work)
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
	os.Exit(code)
}
