// Command buildtestdb builds the offline test vulnerability DB from advisory fixtures, for demos
// and CI: go run ./internal/trivydb/cmd/buildtestdb -advisories fixtures/advisories -cache-dir DIR
// then scan with scan.db.offline=true and scan.db.cache-dir=DIR.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tollgate-dev/tollgate/internal/trivydb"
)

func main() {
	adv := flag.String("advisories", "fixtures/advisories", "advisory feed directory")
	cache := flag.String("cache-dir", "", "trivy cache dir to write db/trivy.db and db/metadata.json into (required)")
	flag.Parse()
	if *cache == "" {
		fmt.Fprintln(os.Stderr, "buildtestdb: -cache-dir is required")
		os.Exit(2)
	}
	if err := trivydb.Build(context.Background(), *adv, *cache, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "buildtestdb:", err)
		os.Exit(1)
	}
	fmt.Printf("trivy DB (schema %d) written to %s/db\n", trivydb.SchemaVersion, *cache)
}
