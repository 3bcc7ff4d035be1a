package cli

import (
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/serve"
	"github.com/tollgate-dev/tollgate/internal/serve/config"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// serveConfigFile is read when --config is not given and the file exists.
const serveConfigFile = "tollgate-serve.yaml"

func newServeCmd(g *globalOpts, stdout, stderr io.Writer) *cobra.Command {
	var listen, database, dataDir, dbDir string
	var workers int
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry scanning service: scan on push, rescan when the vulnerability DB changes, notify",
		Long: `serve runs Tollgate as a service that registries notify on push (CNCF Distribution,
Harbor, or a plain POST). Each pushed digest is described (syft) and scanned (trivy) once,
rescanned when the vulnerability DB changes, and new findings are sent to webhooks, Slack,
GitHub or GitLab issues. See docs/serve.md.

--config names the serve config (default tollgate-serve.yaml if present). Secrets come from
the environment or files named in it (the shared secret defaults to $TOLLGATE_SERVE_SECRET),
never from flags. The service stops gracefully on SIGTERM or Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, required := g.config, true
			if path == "" {
				path, required = serveConfigFile, false
			}
			cfg, err := config.Load(path, required)
			if err != nil {
				return classify(err)
			}
			f := cmd.Flags()
			if f.Changed("listen") {
				cfg.Listen = listen
			}
			if f.Changed("database") {
				cfg.Database = database
			}
			if f.Changed("data-dir") {
				cfg.DataDir = dataDir
			}
			if f.Changed("db-dir") {
				cfg.Scan.DBDir = dbDir
			}
			if f.Changed("workers") {
				cfg.Queue.Workers = workers
			}
			// Re-validate after flags (a database URL with a password is refused here too).
			if cfg, err = config.Reparse(cfg); err != nil {
				return classify(err)
			}
			cacheDir := g.cacheDir
			if cacheDir == "" {
				cacheDir = tools.DefaultCacheDir()
			}
			log := slog.New(slog.NewJSONHandler(stderr, nil))
			svc, err := serve.New(cmd.Context(), serve.Options{Config: cfg, Log: log,
				Tools: &tools.Installer{CacheDir: cacheDir, AutoInstall: !g.noAuto, Progress: stderr}})
			if err != nil {
				return classify(err)
			}
			if err := svc.Run(cmd.Context()); err != nil {
				return classify(err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", config.DefaultListen, "HTTP listen address")
	f.StringVar(&database, "database", "", "SQLite file (default DATA_DIR/"+config.DefaultDatabase+") or postgres://user@host/db URL; the password goes in PGPASSWORD or PGPASSFILE, never here")
	f.StringVar(&dataDir, "data-dir", "", "directory for the SQLite file, trivy layer caches and scratch space")
	f.StringVar(&dbDir, "db-dir", "", "trivy cache dir holding the vulnerability DB (db/trivy.db, db/metadata.json)")
	f.IntVar(&workers, "workers", 2, "concurrent scans")
	return cmd
}
