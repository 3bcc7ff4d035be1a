// Package trivydb builds a small trivy vulnerability DB (schema 2) from advisory feed files with
// trivy-db's own importers, so offline tests and demos scan against a DB shaped exactly like the
// one trivy downloads.
//
// The advisories directory mirrors the layout of trivy-db's upstream feeds:
//
//	vuln-list/alpine/**.json                         Alpine secdb (per package, per release)
//	vuln-list-nvd/api/<year>/CVE-*.json              NVD API 2.0 records (CVSS, description)
//	ghsa/advisories/github-reviewed/**/GHSA-*.json   GitHub advisories in OSV form (Go, npm...)
//
// Importing this package runs trivy-db's GHSA importer init, which lists the Go standard library
// with the go command: keep it out of the tollgate binary (tests and cmd/buildtestdb only).
package trivydb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulndb"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/alpine"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/ghsa"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/nvd"
	fakeclock "k8s.io/utils/clock/testing"
)

// SchemaVersion is the DB schema trivy v0.74.0 reads.
const SchemaVersion = db.SchemaVersion

// UpdateInterval is how far NextUpdate lies after UpdatedAt, as in trivy's published DB.
const UpdateInterval = 24 * time.Hour

// buildMu serialises builds: trivy-db keeps its open bolt DB in a package-level variable, so two
// builds in one process would write into each other's file.
var buildMu sync.Mutex

// source is one feed: the directory (relative to the advisories dir) that must exist for it to be
// imported, and trivy-db's importer.
type source struct {
	dir string
	src vulnsrc.VulnSrc
}

func sources() []source {
	return []source{
		{dir: filepath.Join("vuln-list-nvd", "api"), src: nvd.NewVulnSrc()},
		{dir: filepath.Join("vuln-list", "alpine"), src: alpine.NewVulnSrc()},
		{dir: filepath.Join("ghsa", "advisories"), src: ghsa.NewVulnSrc()},
	}
}

// Build imports the feeds under advisoriesDir into <cacheDir>/db/trivy.db and writes
// <cacheDir>/db/metadata.json with UpdatedAt=now and NextUpdate=now+UpdateInterval.
// It builds into a temporary directory and renames, so a failed build leaves no half DB.
func Build(ctx context.Context, advisoriesDir, cacheDir string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	root, err := stageFeeds(advisoriesDir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)

	var targets []string
	srcs := map[types.SourceID]vulnsrc.VulnSrc{}
	for _, s := range sources() {
		if _, err := os.Stat(filepath.Join(advisoriesDir, s.dir)); err == nil {
			targets = append(targets, string(s.src.Name()))
			srcs[s.src.Name()] = s.src
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("build trivy DB: no advisory feeds under %s (want vuln-list/alpine, vuln-list-nvd/api or ghsa/advisories)", advisoriesDir)
	}

	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return fmt.Errorf("build trivy DB: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".db-build-*")
	if err != nil {
		return fmt.Errorf("build trivy DB: %w", err)
	}
	defer os.RemoveAll(tmp)

	if err := build(root, tmp, targets, srcs, now); err != nil {
		return fmt.Errorf("build trivy DB from %s: %w", advisoriesDir, err)
	}
	dbDir := filepath.Join(cacheDir, "db")
	if err := os.RemoveAll(dbDir); err != nil {
		return fmt.Errorf("build trivy DB: replace %s: %w", dbDir, err)
	}
	// MkdirTemp made it 0700; trivy may run as another user (e.g. mounted into a container).
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("build trivy DB: %w", err)
	}
	if err := os.Rename(tmp, dbDir); err != nil {
		return fmt.Errorf("build trivy DB: %w", err)
	}
	return nil
}

func build(root, outDir string, targets []string, srcs map[types.SourceID]vulnsrc.VulnSrc, now time.Time) (err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if err := db.Init(outDir); err != nil {
		return fmt.Errorf("open bolt DB: %w", err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	// vulndb is trivy-db's own build (import, then normalise details into the vulnerability
	// bucket and drop the staging buckets), the same steps as `trivy-db build`.
	vdb := vulndb.New(root, outDir, UpdateInterval,
		vulndb.WithVulnSrcs(srcs), vulndb.WithClock(fakeclock.NewFakeClock(now.UTC())))
	if err := vdb.Build(targets); err != nil {
		return err
	}
	// Written again so the timestamps are exactly now (trivy-db's clock is UTC) and the
	// file matches what trivy's own download leaves behind.
	md := metadata.Metadata{Version: db.SchemaVersion, UpdatedAt: now.UTC(), NextUpdate: now.UTC().Add(UpdateInterval), DownloadedAt: now.UTC()}
	return metadata.NewClient(outDir).Update(md)
}

// stageFeeds returns a root directory holding the feeds as the importers expect them, with the
// empty directories that importers require even when a feed has nothing for them.
func stageFeeds(advisoriesDir string) (string, error) {
	info, err := os.Stat(advisoriesDir)
	if err != nil {
		return "", fmt.Errorf("build trivy DB: advisories: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("build trivy DB: advisories: %s is not a directory", advisoriesDir)
	}
	abs, err := filepath.Abs(advisoriesDir)
	if err != nil {
		return "", fmt.Errorf("build trivy DB: %w", err)
	}
	root, err := os.MkdirTemp("", "tollgate-feeds-*")
	if err != nil {
		return "", fmt.Errorf("build trivy DB: %w", err)
	}
	for _, d := range []string{"vuln-list", "vuln-list-nvd", "ghsa"} {
		if _, err := os.Stat(filepath.Join(abs, d)); err == nil {
			if err := os.Symlink(filepath.Join(abs, d), filepath.Join(root, d)); err != nil {
				os.RemoveAll(root)
				return "", fmt.Errorf("build trivy DB: %w", err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(root)
			return "", fmt.Errorf("build trivy DB: %w", err)
		}
	}
	// The GHSA importer maps Swift advisories through CocoaPods specs and fails without the dir.
	if err := os.MkdirAll(filepath.Join(root, "cocoapods-specs", "Specs"), 0o755); err != nil {
		os.RemoveAll(root)
		return "", fmt.Errorf("build trivy DB: %w", err)
	}
	return root, nil
}
