package trivydb

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
)

const advisories = "../../fixtures/advisories"

func TestBuildFromFixtures(t *testing.T) {
	cache := t.TempDir()
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if err := Build(context.Background(), advisories, cache, now); err != nil {
		t.Fatal(err)
	}
	dbDir := filepath.Join(cache, "db")
	md, err := metadata.NewClient(dbDir).Get()
	if err != nil {
		t.Fatal(err)
	}
	if md.Version != 2 || !md.UpdatedAt.Equal(now) || !md.NextUpdate.Equal(now.Add(UpdateInterval)) {
		t.Fatalf("metadata = %+v", md)
	}
	leftovers, _ := filepath.Glob(filepath.Join(cache, ".db-build-*"))
	if len(leftovers) > 0 {
		t.Fatalf("temp build dirs left behind: %v", leftovers)
	}

	// Read the DB back the way trivy does, through trivy-db's accessors.
	buildMu.Lock()
	defer buildMu.Unlock()
	if err := db.Init(dbDir); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dbc := db.Config{}

	tests := []struct {
		bucket, pkg, vuln, fixed, severity, title string
	}{
		{"alpine 3.19", "openssl", "CVE-2024-5535", "3.1.6-r0", "CRITICAL", ""},
		{"alpine 3.19", "openssl", "CVE-2023-2650", "3.1.1-r0", "MEDIUM", ""},
		{"alpine 3.19", "busybox", "CVE-2022-48174", "1.36.1-r1", "CRITICAL", ""},
		{"go::GitHub Security Advisory Go", "github.com/gorilla/websocket", "CVE-2020-27813", "1.4.1", "HIGH", "Integer overflow in gorilla/websocket"},
		{"npm::GitHub Security Advisory npm", "lodash", "CVE-2021-23337", "4.17.21", "HIGH", "Command Injection in lodash"},
		{"npm::GitHub Security Advisory npm", "minimist", "CVE-2021-44906", "1.2.6", "CRITICAL", "Prototype Pollution in minimist"},
	}
	for _, tc := range tests {
		t.Run(tc.vuln, func(t *testing.T) {
			advs, err := dbc.GetAdvisories(tc.bucket, tc.pkg)
			if err != nil {
				t.Fatal(err)
			}
			var found *types.Advisory
			for i := range advs {
				if advs[i].VulnerabilityID == tc.vuln {
					found = &advs[i]
				}
			}
			if found == nil {
				t.Fatalf("no advisory %s for %s in %q (got %d advisories)", tc.vuln, tc.pkg, tc.bucket, len(advs))
			}
			if found.FixedVersion != tc.fixed && !contains(found.PatchedVersions, tc.fixed) {
				t.Errorf("fixed = %q / %v, want %s", found.FixedVersion, found.PatchedVersions, tc.fixed)
			}
			v, err := dbc.GetVulnerability(tc.vuln)
			if err != nil {
				t.Fatal(err)
			}
			if v.Severity != tc.severity {
				b, _ := json.Marshal(v)
				t.Errorf("severity = %s, want %s (%s)", v.Severity, tc.severity, b)
			}
			if tc.title != "" && v.Title != tc.title {
				t.Errorf("title = %q, want %q", v.Title, tc.title)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	ctx := context.Background()
	empty := t.TempDir()
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("x"), 0o644)
	broken := t.TempDir()
	os.MkdirAll(filepath.Join(broken, "vuln-list", "alpine"), 0o755)
	os.WriteFile(filepath.Join(broken, "vuln-list", "alpine", "bad.json"), []byte("{not json"), 0o644)

	for name, dir := range map[string]string{"missing": filepath.Join(empty, "nope"), "no feeds": empty, "not a dir": file, "bad json": broken} {
		t.Run(name, func(t *testing.T) {
			cache := t.TempDir()
			if err := Build(ctx, dir, cache, time.Now()); err == nil {
				t.Fatal("Build succeeded")
			}
			if _, err := os.Stat(filepath.Join(cache, "db", "trivy.db")); err == nil {
				t.Fatal("a failed build left a DB behind")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
