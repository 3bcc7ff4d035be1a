package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// cacheKey covers everything a scan depends on: the trivy build, Tollgate's own build (parser,
// VEX and .trivyignore matching), the scan section of the config (the gate's threshold aside),
// the VEX documents and the ignore file (present or not), the vulnerability DB (its
// metadata.json — version, UpdatedAt, DownloadedAt — and the identity of trivy.db, plus the Java
// DB's metadata), the image, and whether trivy's JSON report is kept as an artifact.
//
// A DB trivy would refresh before scanning (online, and past its NextUpdate) makes the key wait
// for the run: the result is stored under the refreshed DB's key. An offline DB that fails its
// age check is not cacheable, so the stage runs and reports it.
func cacheKey(ctx context.Context, env *stage.Env) (*resultcache.Key, error) {
	k := env.Cache.NewKey(Name)
	k.Tool(env.Tools, "trivy")
	cfg := env.Config
	section := cfg.Scan
	section.FailOn = 0 // applied by the gate when the result is read
	k.Value("config", section)
	k.Value("config-file", cfg.Path)
	opts, err := OptionsFrom(cfg, env.Root)
	if err != nil {
		return nil, err
	}
	k.Value("options", opts)
	k.Value("artifacts", env.OutDir != "")
	for i, p := range cfg.Scan.VEX {
		k.File(fmt.Sprintf("vex[%d]:%s", i, p), env.Path(p))
	}
	if cfg.Scan.TrivyIgnore != "" {
		k.File("trivyignore", env.Path(cfg.Scan.TrivyIgnore))
	} else {
		k.File("trivyignore:default", env.Path(".trivyignore"))
		k.File("trivyignore:default-yaml", env.Path(".trivyignore.yaml"))
	}
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	dbKey(k, opts, now())

	input := cfg.Scan.Image
	b := env.BuiltImage()
	if b != nil {
		input = b.Archive
	}
	if len(env.Args) > 0 {
		input = env.Args[0]
	}
	switch {
	case input == "":
		k.NotCacheable("no image")
	case b != nil && input == b.Archive:
		image.KeyBuilt(k, b.Digest, b.Platforms)
	default:
		image.AddKey(ctx, k, input, env.Path)
	}
	return k, nil
}

// dbKey adds the vulnerability DBs trivy will use.
func dbKey(k *resultcache.Key, opts Options, now time.Time) {
	dir := opts.CacheDir
	if dir == "" {
		// trivy's default cache dir under tools.Run's environment (HOME, no XDG_CACHE_HOME).
		home, err := os.UserHomeDir()
		if err != nil {
			k.NotCacheable("no home directory for trivy's cache")
			return
		}
		dir = filepath.Join(home, ".cache", "trivy")
	}
	if opts.Offline {
		if _, err := CheckOfflineDB(opts.CacheDir, opts.MaxDBAge, now); err != nil {
			k.NotCacheable(err.Error())
			return
		}
	}
	mdFile := filepath.Join(dir, "db", "metadata.json")
	b, err := os.ReadFile(mdFile)
	if err != nil {
		k.Pending("trivy has not downloaded its vulnerability DB yet")
		return
	}
	var md DBMetadata
	if err := json.Unmarshal(b, &md); err != nil {
		k.Pending("trivy will replace its unreadable DB metadata")
		return
	}
	if !opts.Offline && refreshDue(md, DBSchemaVersion, time.Hour, now) {
		k.Pending("trivy will refresh its vulnerability DB first")
		return
	}
	k.Data("db-metadata", mdFile)
	k.DataVersion("db", filepath.Join(dir, "db", "trivy.db"))
	javaMD := filepath.Join(dir, "java-db", "metadata.json")
	k.Data("java-db-metadata", javaMD)
	if jb, err := os.ReadFile(javaMD); err == nil && !opts.Offline {
		var jmd DBMetadata
		if json.Unmarshal(jb, &jmd) != nil || refreshDue(jmd, javaDBSchemaVersion, 24*time.Hour, now) {
			k.Pending("trivy may refresh its Java DB first")
		}
	}
}

// javaDBSchemaVersion is the Java DB schema trivy v0.74.0 reads.
const javaDBSchemaVersion = 1

// refreshDue mirrors trivy's own rule for an online scan (pkg/db and pkg/javadb of v0.74.0): a DB
// is refreshed when its schema is not the one trivy reads, when it has no DownloadedAt, or when
// its NextUpdate has passed and it was not downloaded within the grace window (an hour for the
// vulnerability DB, a day for the Java DB).
func refreshDue(md DBMetadata, schema int, grace time.Duration, now time.Time) bool {
	if md.Version != schema || md.DownloadedAt.IsZero() {
		return true
	}
	return !now.Before(md.NextUpdate) && !now.Before(md.DownloadedAt.Add(grace))
}
