// Package serve is `tollgate serve`: a long-running service that registries notify on push.
// It wires the ingest endpoints, the durable queue and its workers, the analyzer (the sbom and
// scan stages' code), rescans when the vulnerability DB changes, notifications and the read
// side (API, page, metrics) around one store.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/scan"
	"github.com/tollgate-dev/tollgate/internal/serve/analyze"
	"github.com/tollgate-dev/tollgate/internal/serve/config"
	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
	"github.com/tollgate-dev/tollgate/internal/serve/metrics"
	"github.com/tollgate-dev/tollgate/internal/serve/notify"
	"github.com/tollgate-dev/tollgate/internal/serve/queue"
	"github.com/tollgate-dev/tollgate/internal/serve/retry"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
	"github.com/tollgate-dev/tollgate/internal/serve/web"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Options are what the command hands the service.
type Options struct {
	Config *config.Config
	Tools  *tools.Installer
	Log    *slog.Logger
	Now    func() time.Time
	// Listener, when set, is used instead of listening on Config.Listen (tests).
	Listener net.Listener
}

// Service is one running instance.
type Service struct {
	cfg      *config.Config
	log      *slog.Logger
	now      func() time.Time
	store    store.Store
	analyzer *analyze.Analyzer
	metrics  *metrics.Metrics
	batcher  *ingest.Batcher
	pool     *queue.Pool
	notifier *notify.Dispatcher
	targets  map[string]notify.Target
	server   *http.Server
	listener net.Listener
	ready    atomic.Bool
	lastDB   string
}

// New reads the secrets, opens the store (running migrations) and builds every part. Bad
// configuration is a *model.InputError.
func New(ctx context.Context, o Options) (*Service, error) {
	cfg := o.Config
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	inputErr := func(err error) error { return &model.InputError{File: cfg.Path, Err: err} }
	if cfg.DataDir == "" {
		return nil, inputErr(errors.New("data-dir: not set (where the SQLite file and trivy's layer caches live)"))
	}
	if cfg.Scan.DBDir == "" {
		return nil, inputErr(errors.New("scan.db-dir: not set (a trivy cache dir holding db/trivy.db and db/metadata.json)"))
	}
	var secret []byte
	var readTokens [][]byte
	if !cfg.Auth.Disabled {
		v, err := cfg.Auth.Secret.Read("auth.secret")
		if err != nil {
			return nil, inputErr(fmt.Errorf("%w (authentication is on by default; set auth.disabled: true only for a service nobody else can reach)", err))
		}
		if len(v) < 16 {
			return nil, inputErr(errors.New("auth.secret: shorter than 16 characters; use a random secret (e.g. openssl rand -hex 32)"))
		}
		secret = []byte(v)
		readTokens = append(readTokens, secret)
		if cfg.Auth.ReadToken.Set() {
			rt, err := cfg.Auth.ReadToken.Read("auth.read-token")
			if err != nil {
				return nil, inputErr(err)
			}
			readTokens = append(readTokens, []byte(rt))
		}
	}
	creds := map[string]image.Credentials{}
	for _, r := range cfg.Registries {
		if r.Username == "" {
			creds[r.Host] = image.Credentials{}
			continue
		}
		pass, err := r.Password.Read("registries " + r.Host + " password")
		if err != nil {
			return nil, inputErr(err)
		}
		creds[r.Host] = image.Credentials{Username: r.Username, Password: pass}
	}
	targets, err := buildTargets(cfg)
	if err != nil {
		return nil, inputErr(err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("serve: data dir: %w", err)
	}
	dsn := cfg.Database
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, config.DefaultDatabase)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	an, err := analyze.New(analyze.Config{
		Tools: o.Tools, DBDir: cfg.Scan.DBDir, MaxDBAge: cfg.DBMaxAge(), WorkDir: filepath.Join(cfg.DataDir, "work"),
		Options:     scan.Options{Timeout: cfg.Scan.Timeout.Duration, IgnoreUnfixed: cfg.Scan.IgnoreUnfixed},
		SBOMTimeout: cfg.Scan.Timeout.Duration, RegistryTimeout: cfg.Scan.RegistryTimeout.Duration,
		Credentials: func(host string) image.Credentials { return creds[host] },
		Nice:        *cfg.Queue.Nice, Now: now,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, log: log, now: now, store: st, analyzer: an, targets: targets}
	s.metrics = metrics.New(s)
	instance := cfg.Instance
	if instance == "" {
		host, _ := os.Hostname()
		instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	s.notifier = &notify.Dispatcher{
		Store: st, Targets: targets, Owner: instance, Client: &http.Client{Timeout: cfg.Notify.Timeout.Duration},
		Retry: retry.Policy{MaxAttempts: cfg.Notify.MaxAttempts, Base: cfg.Notify.Backoff.Duration, Max: cfg.Notify.MaxBackoff.Duration},
		Poll:  cfg.Queue.Poll.Duration, Lease: 2 * cfg.Notify.Timeout.Duration, Metrics: s.metrics, Log: log, Now: now,
	}
	s.notifier.Init()
	s.pool = &queue.Pool{
		Store: st, Handle: s.handle, Owner: instance, Workers: cfg.Queue.Workers, Lease: cfg.Queue.Lease.Duration, Poll: cfg.Queue.Poll.Duration,
		Retry:   retry.Policy{MaxAttempts: cfg.Queue.MaxAttempts, Base: cfg.Queue.Backoff.Duration, Max: cfg.Queue.MaxBackoff.Duration},
		Metrics: s.metrics, Log: log, Now: now, OnFinish: s.notifier.Wake,
	}
	s.batcher = ingest.NewBatcher(st, now)
	mux := http.NewServeMux()
	var allowed func(string) bool
	if len(cfg.Registries) > 0 {
		allowed = func(host string) bool { _, ok := creds[host]; return ok }
	}
	ingest.Register(mux, ingest.Options{
		Auth: ingest.Auth{Secret: secret}, MaxBody: cfg.Ingest.MaxBody, Allowed: allowed, Metrics: s.metrics, Log: log,
		Submit: func(ctx context.Context, p []store.Push) ([]store.IngestResult, error) {
			res, err := s.batcher.Submit(ctx, p)
			if err == nil {
				s.pool.Wake()
			}
			return res, err
		},
	})
	if err := web.Register(mux, web.Options{Store: st, Tokens: readTokens, Metrics: s.metrics, FailOn: cfg.Scan.FailOn, Log: log, Now: now, Ready: &s.ready}); err != nil {
		s.batcher.Stop()
		st.Close()
		return nil, err
	}
	s.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	s.listener = o.Listener
	if s.listener == nil {
		l, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			s.batcher.Stop()
			st.Close()
			return nil, fmt.Errorf("serve: listen on %s: %w", cfg.Listen, err)
		}
		s.listener = l
	}
	return s, nil
}

// Addr is the address the service listens on.
func (s *Service) Addr() string { return s.listener.Addr().String() }

// QueueDepth feeds the metrics gauges.
func (s *Service) QueueDepth(ctx context.Context) (queued, running, failed, pending, nfailed int, err error) {
	st, err := s.store.Stats(ctx)
	return st.JobsQueued, st.JobsRunning, st.JobsFailed, st.NotificationsPending, st.NotificationsFailed, err
}

func buildTargets(cfg *config.Config) (map[string]notify.Target, error) {
	out := map[string]notify.Target{}
	for _, t := range cfg.Notify.Targets {
		what := "notify.targets " + t.Name
		u := t.URL
		if t.URLSecret.Set() {
			v, err := t.URLSecret.Read(what + " url-secret")
			if err != nil {
				return nil, err
			}
			u = v
		}
		switch t.Type {
		case config.TargetWebhook:
			sec, err := t.Secret.Read(what + " secret")
			if err != nil {
				return nil, err
			}
			out[t.Name] = &notify.Webhook{TargetName: t.Name, URL: u, Secret: []byte(sec)}
		case config.TargetSlack:
			out[t.Name] = &notify.Slack{TargetName: t.Name, URL: u}
		case config.TargetGitHub:
			tok, err := t.Token.Read(what + " token")
			if err != nil {
				return nil, err
			}
			out[t.Name] = &notify.GitHub{TargetName: t.Name, API: t.API, Repository: t.Repository, Token: tok, Labels: t.Labels}
		case config.TargetGitLab:
			tok, err := t.Token.Read(what + " token")
			if err != nil {
				return nil, err
			}
			out[t.Name] = &notify.GitLab{TargetName: t.Name, API: t.API, Project: t.Project, Token: tok, Labels: t.Labels}
		}
	}
	return out, nil
}

// handle runs one job: scan (with SBOM on first scans), compare with the previous result and
// plan the notifications, which the store writes with the result in one transaction.
func (s *Service) handle(ctx context.Context, slot int, job *store.Job) (*store.Result, error) {
	prev, err := s.store.LatestScan(ctx, job.ImageID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	first := prev == nil
	res, err := s.analyzer.Scan(ctx, slot, job.Ref, job.Registry, job.Kind == store.KindScan || first)
	if err != nil {
		return nil, err
	}
	var prevFindings []model.Finding
	if prev != nil {
		prevFindings = prev.Findings
	}
	sel := notify.Select(notify.Policy{MinSeverity: s.cfg.Notify.MinSeverity, FixableOnly: s.cfg.Notify.FixableOnly}, prevFindings, res.Scan.Findings, first)
	if len(sel) == 0 || len(s.targets) == 0 {
		return res, nil
	}
	im, err := s.store.Image(ctx, job.Ref)
	if err != nil {
		return nil, err
	}
	msg := notify.Message{Image: im.Ref, Repository: im.Registry + "/" + im.Repository, Digest: im.Digest, Tags: im.Tags,
		Kind: notify.KindNew, ScanKind: job.Kind, DBVersion: res.Scan.DBVersion, Counts: map[string]int{}}
	if first {
		msg.Kind = notify.KindFirst
	}
	for _, f := range sel {
		msg.Findings = append(msg.Findings, notify.VulnOf(f))
		msg.Counts[f.Severity.String()]++
	}
	if s.cfg.BaseURL != "" {
		msg.URL = s.cfg.BaseURL + "/images/" + im.Ref
	}
	payload, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	for name := range s.targets {
		res.Notifications = append(res.Notifications, store.Outgoing{Target: name, Payload: payload})
	}
	return res, nil
}

// watchDB queues rescans of images scanned with another DB than the current one: at start
// (the DB may have changed while the service was down), whenever it changes, and on the
// rescan schedule for every image.
func (s *Service) watchDB(ctx context.Context) {
	check := func() {
		v, err := s.analyzer.DBVersion()
		if err != nil {
			s.log.Error("vulnerability DB unusable; scans will fail until it is fixed", "err", err)
			return
		}
		if v != s.lastDB {
			if s.lastDB != "" {
				s.metrics.DBChanges.Inc()
				s.log.Info("vulnerability DB changed", "from", s.lastDB, "to", v)
			}
			s.lastDB = v
		}
		n, err := s.store.QueueRescans(ctx, v, "db "+v, s.now())
		if err != nil {
			s.log.Error("queueing rescans failed", "err", err)
			return
		}
		if n > 0 {
			s.log.Info("rescans queued", "images", n, "db", v)
			s.pool.Wake()
		}
	}
	check()
	dbTick := time.NewTicker(s.cfg.Scan.DBPoll.Duration)
	defer dbTick.Stop()
	var schedule <-chan time.Time
	if iv := s.cfg.Rescan.Interval.Duration; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		schedule = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-dbTick.C:
			check()
		case <-schedule:
			// The slot names this round, so replicas that share a database queue it once.
			slot := s.now().UTC().Truncate(s.cfg.Rescan.Interval.Duration).Format(time.RFC3339)
			n, err := s.store.QueueRescans(ctx, "", "schedule "+slot, s.now())
			if err != nil {
				s.log.Error("queueing scheduled rescans failed", "err", err)
				continue
			}
			s.log.Info("scheduled rescans queued", "images", n)
			s.pool.Wake()
		}
	}
}

// Run serves until ctx ends, then shuts down gracefully: readiness goes false, the HTTP server
// stops taking requests and finishes the ones in flight (every acknowledged event is already
// committed), workers stop claiming and finish their jobs within the shutdown timeout (jobs
// still running then are given back to the queue), deliveries in progress finish, and the
// store is closed.
func (s *Service) Run(ctx context.Context) error {
	s.ready.Store(true)
	s.log.Info("tollgate serve listening", "addr", s.Addr(), "workers", s.cfg.Queue.Workers, "auth", !s.cfg.Auth.Disabled)
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.server.Serve(s.listener) }()

	stop, stopWork := context.WithCancel(context.Background())
	jobs, abandon := context.WithCancel(context.Background())
	defer abandon()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.pool.Run(stop, jobs) }()
	go func() { defer wg.Done(); s.notifier.Run(stop) }()
	go func() { defer wg.Done(); s.watchDB(stop) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: http: %w", err)
	}
	s.log.Info("shutting down: draining")
	s.ready.Store(false)
	shCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout.Duration)
	defer cancel()
	if err := s.server.Shutdown(shCtx); err != nil {
		s.log.Warn("HTTP shutdown", "err", err)
	}
	s.batcher.Stop()
	stopWork()
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-shCtx.Done():
		s.log.Warn("shutdown timeout: giving running jobs back to the queue")
		abandon()
		<-drained
	}
	if err := s.store.Close(); err != nil && runErr == nil {
		runErr = err
	}
	s.log.Info("stopped")
	return runErr
}

// Close releases a service that was never Run.
func (s *Service) Close() error {
	s.batcher.Stop()
	s.listener.Close()
	return s.store.Close()
}
