package scan

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// ErrDBUnavailable marks an offline scan that cannot trust its vulnerability DB (missing,
// wrong schema or stale). It is wrapped in a *model.ToolError, so the CLI exits 3: the scanner's
// data is an infrastructure prerequisite like the scanner itself, and a scan without it must
// fail closed rather than pass. (Exit 2 is kept for inputs the user wrote: config, image, VEX.)
var ErrDBUnavailable = errors.New("vulnerability DB unavailable")

// DBSchemaVersion is the trivy DB schema trivy v0.74.0 reads.
const DBSchemaVersion = 2

// DBMetadata is trivy's db/metadata.json.
type DBMetadata struct {
	Version      int       `json:"Version"`
	NextUpdate   time.Time `json:"NextUpdate"`
	UpdatedAt    time.Time `json:"UpdatedAt"`
	DownloadedAt time.Time `json:"DownloadedAt"`
}

// CheckDBMetadata validates metadata.json content for an offline scan: schema 2 and UpdatedAt
// no older than maxAge (0 disables the age check). name is used in messages.
func CheckDBMetadata(name string, data []byte, maxAge time.Duration, now time.Time) (*DBMetadata, error) {
	var md DBMetadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, dbError("%s is not valid DB metadata (%v); replace the offline DB", name, err)
	}
	if md.Version != DBSchemaVersion {
		return nil, dbError("%s: DB schema version %d, trivy v0.74.0 needs %d; fetch a current DB (oras pull ghcr.io/aquasecurity/trivy-db:%d)",
			name, md.Version, DBSchemaVersion, DBSchemaVersion)
	}
	if md.UpdatedAt.IsZero() {
		return nil, dbError("%s has no UpdatedAt: cannot tell how old the DB is", name)
	}
	if age := now.Sub(md.UpdatedAt); maxAge > 0 && age > maxAge {
		return nil, dbError("offline DB is stale: built %s (%s ago, next update was due %s), older than the allowed %s; refresh the DB or raise scan.db.max-age",
			md.UpdatedAt.UTC().Format(time.RFC3339), age.Round(time.Hour), md.NextUpdate.UTC().Format(time.RFC3339), maxAge)
	}
	return &md, nil
}

// CheckOfflineDB checks <cacheDir>/db/trivy.db and metadata.json before an offline scan, so a
// missing or stale DB is a clear error instead of trivy's terse one (and never a silent pass:
// trivy itself accepts a stale DB with --skip-db-update).
func CheckOfflineDB(cacheDir string, maxAge time.Duration, now time.Time) (*DBMetadata, error) {
	if cacheDir == "" {
		return nil, dbError("offline scan needs scan.db.cache-dir: a directory holding db/trivy.db and db/metadata.json")
	}
	dbFile := filepath.Join(cacheDir, "db", "trivy.db")
	if st, err := os.Stat(dbFile); err != nil || st.Size() == 0 {
		return nil, dbError("offline DB missing: no %s; copy a trivy DB (db/trivy.db + db/metadata.json) into %s", dbFile, cacheDir)
	}
	mdFile := filepath.Join(cacheDir, "db", "metadata.json")
	b, err := os.ReadFile(mdFile)
	if err != nil {
		return nil, dbError("offline DB metadata missing: %v", err)
	}
	return CheckDBMetadata(mdFile, b, maxAge, now)
}

// DBUnavailable is an ErrDBUnavailable tool error with a message saying what to do.
func DBUnavailable(format string, args ...any) error { return dbError(format, args...) }

func dbError(format string, args ...any) error {
	return &model.ToolError{Tool: "trivy-db", Err: fmt.Errorf("%w: %s", ErrDBUnavailable, fmt.Sprintf(format, args...))}
}

// ParseAge reads a Go duration or a number of days ("7d").
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid age %q (want e.g. 7d or 168h)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid age %q (want e.g. 7d or 168h)", s)
	}
	return v, nil
}

// trivyDBError turns trivy's DB complaints into the same clear error as our own check.
func trivyDBError(stderr string) error {
	switch {
	case strings.Contains(stderr, "--skip-db-update cannot be specified on the first run"):
		return dbError("trivy found no DB in its cache dir (offline mode cannot download one)")
	case strings.Contains(stderr, "the version of DB schema doesn't match"), strings.Contains(stderr, "cannot be specified with the old DB schema"):
		return dbError("trivy rejected the DB schema: %s", lastLine(stderr))
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
