// Package web publishes what tollgate serve knows: the JSON API (/api/v1/...), a small
// server-rendered page per repository list and per digest, health and readiness, and
// Prometheus metrics. Everything but /healthz and /readyz needs a token.
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/report"
	"github.com/tollgate-dev/tollgate/internal/scan"
	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
	"github.com/tollgate-dev/tollgate/internal/serve/metrics"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// Options configure the read side.
type Options struct {
	Store store.Store
	// Tokens are accepted for reading (the shared secret and an optional read-only token);
	// empty means authentication is disabled.
	Tokens  [][]byte
	Metrics *metrics.Metrics
	// FailOn marks findings at or above it as blocking in the SARIF report.
	FailOn model.Severity
	Log    *slog.Logger
	Now    func() time.Time
	// Ready reports whether the service takes work (false while draining).
	Ready *atomic.Bool
}

type site struct {
	Options
	list, detail *template.Template
}

// Register adds the read endpoints to mux.
func Register(mux *http.ServeMux, o Options) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	funcs := template.FuncMap{"age": func(t time.Time) string { return Age(o.Now(), t) }, "short": shortDigest, "sev": sevClass}
	list, err := template.New("list.html").Funcs(funcs).ParseFS(templateFS, "templates/list.html", "templates/base.html")
	if err != nil {
		return fmt.Errorf("web: templates: %w", err)
	}
	detail, err := template.New("detail.html").Funcs(funcs).ParseFS(templateFS, "templates/detail.html", "templates/base.html")
	if err != nil {
		return fmt.Errorf("web: templates: %w", err)
	}
	s := &site{Options: o, list: list, detail: detail}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{})))
	mux.Handle("GET /api/v1/images", s.auth(http.HandlerFunc(s.apiImages)))
	mux.Handle("GET /api/v1/images/{ref...}", s.auth(http.HandlerFunc(s.apiImage)))
	mux.Handle("GET /api/v1/sbom/{format}/{ref...}", s.auth(http.HandlerFunc(s.apiSBOM)))
	mux.Handle("GET /api/v1/jobs", s.auth(http.HandlerFunc(s.apiJobs)))
	mux.Handle("GET /api/v1/notifications", s.auth(http.HandlerFunc(s.apiNotifications)))
	mux.Handle("GET /{$}", s.auth(http.HandlerFunc(s.pageList)))
	mux.Handle("GET /images/{ref...}", s.auth(http.HandlerFunc(s.pageDetail)))
	return nil
}

// auth accepts "Authorization: Bearer <token>", or HTTP Basic with the token as password so a
// browser can log in to the page.
func (s *site) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.Tokens) == 0 || s.authorized(r) {
			w.Header().Set("Cache-Control", "no-store")
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="tollgate", charset="UTF-8"`)
		ingest.WriteJSON(w, http.StatusUnauthorized, ingest.ErrorBody{Error: "authentication required: Authorization: Bearer <token> (or Basic with the token as password)"})
	})
}

func (s *site) authorized(r *http.Request) bool {
	var got string
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = strings.TrimSpace(tok)
	} else if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	}
	if got == "" {
		return false
	}
	ok := false
	for _, t := range s.Tokens {
		if subtle.ConstantTimeCompare([]byte(got), t) == 1 {
			ok = true
		}
	}
	return ok
}

func (s *site) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if s.Ready != nil && !s.Ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("draining\n"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.Log.Warn("readiness: database unreachable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("database unreachable\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *site) internalError(w http.ResponseWriter, what string, err error) {
	s.Log.Error(what, "err", err)
	ingest.WriteJSON(w, http.StatusInternalServerError, ingest.ErrorBody{Error: what})
}

func (s *site) apiImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := s.Store.Images(r.Context())
	if err != nil {
		s.internalError(w, "listing images failed", err)
		return
	}
	if imgs == nil {
		imgs = []store.Image{}
	}
	ingest.WriteJSON(w, http.StatusOK, map[string]any{"images": imgs})
}

// imageAndScan loads an image and its latest scan; it writes the error response itself.
func (s *site) imageAndScan(w http.ResponseWriter, r *http.Request) (*store.Image, *store.Scan, bool) {
	ref := r.PathValue("ref")
	im, err := s.Store.Image(r.Context(), ref)
	if errors.Is(err, store.ErrNotFound) {
		ingest.WriteJSON(w, http.StatusNotFound, ingest.ErrorBody{Error: "no such image: want registry/repository@sha256:..."})
		return nil, nil, false
	}
	if err != nil {
		s.internalError(w, "reading the image failed", err)
		return nil, nil, false
	}
	sc, err := s.Store.LatestScan(r.Context(), im.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, "reading the scan failed", err)
		return nil, nil, false
	}
	return im, sc, true
}

// Report is the JSON detail of one image.
type Report struct {
	store.Image
	Findings []model.Finding `json:"findings"`
}

func (s *site) apiImage(w http.ResponseWriter, r *http.Request) {
	im, sc, ok := s.imageAndScan(w, r)
	if !ok {
		return
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		rep := Report{Image: *im, Findings: []model.Finding{}}
		if sc != nil {
			rep.Findings = sc.Findings
		}
		ingest.WriteJSON(w, http.StatusOK, rep)
	case "sarif":
		if sc == nil {
			ingest.WriteJSON(w, http.StatusNotFound, ingest.ErrorBody{Error: "the image has no scan result yet"})
			return
		}
		res := &model.StageResult{Stage: scan.Name, Tool: model.Tool{Name: "trivy", Version: sc.Tools["trivy"]}, Findings: sc.Findings}
		gate.Decide(res, s.FailOn)
		run := &model.Run{Version: model.Version, Source: im.Ref, Started: sc.StartedAt, Duration: sc.FinishedAt.Sub(sc.StartedAt), Stages: []*model.StageResult{res}}
		b, err := report.Render("sarif", run)
		if err != nil {
			s.internalError(w, "rendering SARIF failed", err)
			return
		}
		w.Header().Set("Content-Type", "application/sarif+json")
		w.Write(b)
	default:
		ingest.WriteJSON(w, http.StatusBadRequest, ingest.ErrorBody{Error: "format: want json or sarif"})
	}
}

func (s *site) apiSBOM(w http.ResponseWriter, r *http.Request) {
	format := r.PathValue("format")
	mediaType := map[string]string{"spdx-json": "application/spdx+json", "cyclonedx-json": "application/vnd.cyclonedx+json"}[format]
	if mediaType == "" {
		ingest.WriteJSON(w, http.StatusBadRequest, ingest.ErrorBody{Error: "SBOM format: want spdx-json or cyclonedx-json"})
		return
	}
	im, err := s.Store.Image(r.Context(), r.PathValue("ref"))
	if errors.Is(err, store.ErrNotFound) {
		ingest.WriteJSON(w, http.StatusNotFound, ingest.ErrorBody{Error: "no such image"})
		return
	}
	if err != nil {
		s.internalError(w, "reading the image failed", err)
		return
	}
	b, err := s.Store.SBOM(r.Context(), im.ID, format)
	if errors.Is(err, store.ErrNotFound) {
		ingest.WriteJSON(w, http.StatusNotFound, ingest.ErrorBody{Error: "the image has no SBOM yet"})
		return
	}
	if err != nil {
		s.internalError(w, "reading the SBOM failed", err)
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Write(b)
}

func (s *site) apiJobs(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.Store.Jobs(r.Context(), 500)
	if err != nil {
		s.internalError(w, "listing jobs failed", err)
		return
	}
	ingest.WriteJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
}

func (s *site) apiNotifications(w http.ResponseWriter, r *http.Request) {
	ds, err := s.Store.Deliveries(r.Context(), 500)
	if err != nil {
		s.internalError(w, "listing notifications failed", err)
		return
	}
	ingest.WriteJSON(w, http.StatusOK, map[string]any{"notifications": ds})
}

// repoGroup is one repository on the list page.
type repoGroup struct {
	Repository string
	Images     []store.Image
}

func (s *site) pageList(w http.ResponseWriter, r *http.Request) {
	imgs, err := s.Store.Images(r.Context())
	if err != nil {
		s.internalError(w, "listing images failed", err)
		return
	}
	var groups []repoGroup
	idx := map[string]int{}
	for _, im := range imgs {
		key := im.Registry + "/" + im.Repository
		i, ok := idx[key]
		if !ok {
			i = len(groups)
			idx[key] = i
			groups = append(groups, repoGroup{Repository: key})
		}
		groups[i].Images = append(groups[i].Images, im)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Repository < groups[j].Repository })
	s.render(w, s.list, map[string]any{"Title": "Images", "Groups": groups, "Severities": severities})
}

func (s *site) pageDetail(w http.ResponseWriter, r *http.Request) {
	im, err := s.Store.Image(r.Context(), r.PathValue("ref"))
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such image", http.StatusNotFound)
		return
	}
	if err != nil {
		s.internalError(w, "reading the image failed", err)
		return
	}
	sc, err := s.Store.LatestScan(r.Context(), im.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, "reading the scan failed", err)
		return
	}
	s.render(w, s.detail, map[string]any{"Title": im.Repository + "@" + shortDigest(im.Digest), "Image": im, "Scan": sc, "Severities": severities})
}

func (s *site) render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := t.ExecuteTemplate(w, "base", data); err != nil {
		s.Log.Error("rendering a page failed", "err", err)
	}
}

var severities = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func sevClass(s string) string { return "sev-" + strings.ToLower(s) }

// Age says how long ago t was, coarsely ("42s", "5m", "3h", "2d").
func Age(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}
