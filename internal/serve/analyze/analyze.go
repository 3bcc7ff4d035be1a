// Package analyze runs the sbom and scan stages' code on one pushed image for tollgate serve:
// resolve repo@digest with the registry's credentials, describe it with syft (first scans),
// scan it with trivy against the offline DB, and hand back what the store keeps.
package analyze

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/sbom"
	"github.com/tollgate-dev/tollgate/internal/scan"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Config is what a scan needs.
type Config struct {
	Tools *tools.Installer
	// DBDir is a trivy cache dir holding db/trivy.db and db/metadata.json, kept fresh from
	// outside (a mirror job) or by the operator; the service only reads it.
	DBDir string
	// MaxDBAge refuses a DB older than this (0: no limit).
	MaxDBAge time.Duration
	// WorkDir holds one trivy cache per worker slot (its layer cache) and scratch space.
	WorkDir string
	// Options are trivy's settings (timeout, severities, ignore-unfixed); the cache and the
	// offline flags are set here.
	Options scan.Options
	// SBOMTimeout bounds syft (default sbom.DefaultTimeout).
	SBOMTimeout time.Duration
	// RegistryTimeout bounds resolving the manifest (a registry that hangs).
	RegistryTimeout time.Duration
	// Credentials returns the credentials for a registry host (zero value: anonymous).
	Credentials func(registry string) image.Credentials
	// Nice, when above 0, lowers the priority of syft and trivy (Linux): scans are batch work,
	// acknowledgements and reads are not. Only the scanner processes are lowered.
	Nice int
	Now  func() time.Time
}

// Analyzer scans images; one per service.
type Analyzer struct {
	cfg Config
	mu  sync.Mutex
	db  dbState
}

type dbState struct {
	key     string // metadata UpdatedAt + trivy.db size and mtime: cheap change detection
	version string
}

// New checks the configuration and prepares the work dir.
func New(cfg Config) (*Analyzer, error) {
	if cfg.DBDir == "" {
		return nil, errors.New("analyze: no vulnerability DB dir configured (scan.db-dir)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Credentials == nil {
		cfg.Credentials = func(string) image.Credentials { return image.Credentials{} }
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	return &Analyzer{cfg: cfg}, nil
}

// DBVersion identifies the DB in DBDir: its UpdatedAt and the start of trivy.db's sha256.
// The hash is computed again only when the file's metadata changes.
func (a *Analyzer) DBVersion() (string, error) {
	if _, err := scan.CheckOfflineDB(a.cfg.DBDir, a.cfg.MaxDBAge, a.cfg.Now()); err != nil {
		return "", err
	}
	mdPath := filepath.Join(a.cfg.DBDir, "db", "metadata.json")
	dbPath := filepath.Join(a.cfg.DBDir, "db", "trivy.db")
	b, err := os.ReadFile(mdPath)
	if err != nil {
		return "", fmt.Errorf("analyze: DB metadata: %w", err)
	}
	var md scan.DBMetadata
	if err := json.Unmarshal(b, &md); err != nil {
		return "", fmt.Errorf("analyze: DB metadata: %w", err)
	}
	st, err := os.Stat(dbPath)
	if err != nil {
		return "", fmt.Errorf("analyze: DB: %w", err)
	}
	key := fmt.Sprintf("%s/%d/%d", md.UpdatedAt.UTC().Format(time.RFC3339Nano), st.Size(), st.ModTime().UnixNano())
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.db.key == key {
		return a.db.version, nil
	}
	f, err := os.Open(dbPath)
	if err != nil {
		return "", fmt.Errorf("analyze: DB: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("analyze: hash DB: %w", err)
	}
	a.db = dbState{key: key, version: md.UpdatedAt.UTC().Format(time.RFC3339) + " sha256:" + hex.EncodeToString(h.Sum(nil))[:12]}
	return a.db.version, nil
}

// slotCache is worker slot's trivy cache dir: its own layer cache (trivy locks it for a whole
// run) and a link to the shared, read-only vulnerability DB.
func (a *Analyzer) slotCache(slot int) (string, error) {
	dir := filepath.Join(a.cfg.WorkDir, "trivy-cache", fmt.Sprintf("worker-%d", slot))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	link := filepath.Join(dir, "db")
	target, err := filepath.Abs(filepath.Join(a.cfg.DBDir, "db"))
	if err != nil {
		return "", err
	}
	if cur, err := os.Readlink(link); err != nil || cur != target {
		os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// Scan analyzes ref (registry/repo@sha256:...) in worker slot slot. withSBOM runs syft too
// (first scans); rescans only re-match, reusing the slot's layer cache.
func (a *Analyzer) Scan(ctx context.Context, slot int, ref, registry string, withSBOM bool) (*store.Result, error) {
	started := a.cfg.Now()
	creds := a.cfg.Credentials(registry)
	scratch, err := os.MkdirTemp(a.cfg.WorkDir, "job-*")
	if err != nil {
		return nil, fmt.Errorf("analyze: scratch dir: %w", err)
	}
	defer os.RemoveAll(scratch)
	lim := image.DefaultLimits()
	if a.cfg.RegistryTimeout > 0 {
		lim.RegistryTimeout = a.cfg.RegistryTimeout
	}
	src, err := image.OpenRegistry(ctx, ref, creds, lim)
	if err != nil {
		return nil, err
	}
	res := &store.Result{}
	if withSBOM {
		syft, err := a.cfg.Tools.Ensure(ctx, "syft")
		if err != nil {
			return nil, &model.ToolError{Tool: "syft", Err: err}
		}
		formats, _ := sbom.FormatsFor(sbom.FormatNames())
		out := filepath.Join(scratch, "sbom")
		timeout := a.cfg.SBOMTimeout
		if timeout == 0 {
			timeout = sbom.DefaultTimeout
		}
		if _, err := sbom.Generate(ctx, sbom.Request{Syft: syft, Source: src, Formats: formats, OutDir: out, Creds: creds,
			Timeout: timeout, WorkDir: scratch, Subject: src.Ref, Nice: a.cfg.Nice}); err != nil {
			return nil, err
		}
		for _, f := range formats {
			b, err := os.ReadFile(filepath.Join(out, f.File))
			if err != nil {
				return nil, fmt.Errorf("analyze: read %s SBOM: %w", f.Name, err)
			}
			res.SBOMs = append(res.SBOMs, store.SBOM{Format: f.Name, Content: b})
		}
	}
	dbVersion, err := a.DBVersion()
	if err != nil {
		return nil, err
	}
	cache, err := a.slotCache(slot)
	if err != nil {
		return nil, fmt.Errorf("analyze: trivy cache: %w", err)
	}
	trivy, err := a.cfg.Tools.Ensure(ctx, "trivy")
	if err != nil {
		return nil, &model.ToolError{Tool: "trivy", Err: err}
	}
	opts := a.cfg.Options
	opts.CacheDir, opts.Offline = cache, true
	report, raw, err := scan.Run(ctx, scan.Request{Trivy: trivy, Source: src, Options: opts, WorkDir: scratch, Env: src.TrivyEnv(creds), Nice: a.cfg.Nice})
	if err != nil {
		return nil, err
	}
	findings := report.Findings()
	res.Scan = store.Scan{
		StartedAt:  started,
		FinishedAt: a.cfg.Now(),
		Tools:      map[string]string{"trivy": scan.Tool().Version},
		DBVersion:  dbVersion,
		Platform:   src.Platform,
		Counts:     Counts(findings),
		Findings:   findings,
		Report:     raw,
	}
	if withSBOM {
		res.Scan.Tools["syft"] = sbom.Tool().Version
	}
	return res, nil
}

// Counts tallies findings by severity name.
func Counts(findings []model.Finding) map[string]int {
	c := map[string]int{}
	for _, f := range findings {
		c[f.Severity.String()]++
	}
	return c
}
