package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/metrics"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

// Endpoint paths.
const (
	PathDistribution = "/api/v1/events/distribution"
	PathHarbor       = "/api/v1/events/harbor"
	PathImages       = "/api/v1/images"
)

// DefaultMaxBody is the largest request body accepted (a Distribution envelope holds a few
// dozen events of a few hundred bytes each).
const DefaultMaxBody = 1 << 20

// Options configure the ingest endpoints.
type Options struct {
	Auth    Auth
	MaxBody int64
	// Allowed reports whether pushes from a registry host are scanned; nil allows every host.
	Allowed func(host string) bool
	// Submit queues pushes durably (a *Batcher's Submit).
	Submit func(ctx context.Context, pushes []store.Push) ([]store.IngestResult, error)
	// AckTimeout bounds how long a request waits for its commit (default 10s).
	AckTimeout time.Duration
	Metrics    *metrics.Metrics
	Log        *slog.Logger
}

// Response is the body of an accepted request.
type Response struct {
	Queued  int       `json:"queued"`  // new scan jobs
	Known   int       `json:"known"`   // pushes of digests already queued or scanned
	Skipped []Skipped `json:"skipped"` // events understood and not queued
}

type parser func(body []byte) ([]store.Push, []Skipped, error)

// Register adds the three endpoints to mux.
func Register(mux *http.ServeMux, o Options) {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	mux.Handle("POST "+PathDistribution, o.handler("distribution", []string{DistributionEnvelope, JSON}, ParseDistribution))
	mux.Handle("POST "+PathHarbor, o.handler("harbor", []string{JSON}, ParseHarbor))
	mux.Handle("POST "+PathImages, o.handler("api", []string{JSON}, func(b []byte) ([]store.Push, []Skipped, error) {
		p, err := ParsePlain(b)
		return p, nil, err
	}))
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// WriteJSON writes v with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (o Options) handler(source string, types []string, parse parser) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := o.serve(w, r, source, types, parse)
		if o.Metrics != nil {
			o.Metrics.Requests.WithLabelValues(source, strconv.Itoa(code)).Inc()
			if code == http.StatusAccepted {
				o.Metrics.AckLatency.Observe(time.Since(start).Seconds())
			}
		}
	})
}

func (o Options) fail(w http.ResponseWriter, r *http.Request, source string, code int, msg string) int {
	o.Log.Info("ingest request refused", "endpoint", source, "status", code, "reason", msg, "remote", r.RemoteAddr)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate"`)
	}
	WriteJSON(w, code, ErrorBody{Error: msg})
	return code
}

func (o Options) serve(w http.ResponseWriter, r *http.Request, source string, types []string, parse parser) int {
	// Authenticate before reading a body: an anonymous client cannot make us buffer anything.
	signature := r.Header.Get(SignatureHeader)
	if o.Auth.Enabled() {
		valid, present := o.Auth.Bearer(r)
		switch {
		case present && !valid:
			return o.fail(w, r, source, http.StatusUnauthorized, "invalid bearer token")
		case !present && signature == "":
			return o.fail(w, r, source, http.StatusUnauthorized, "authentication required: Authorization: Bearer <secret> or "+SignatureHeader)
		}
		if present {
			signature = "" // authenticated by token
		}
	}
	if r.ContentLength > o.MaxBody {
		return o.fail(w, r, source, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is larger than the limit of %d", r.ContentLength, o.MaxBody))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, o.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return o.fail(w, r, source, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than the limit of %d bytes", o.MaxBody))
		}
		return o.fail(w, r, source, http.StatusBadRequest, "reading the body failed")
	}
	if o.Auth.Enabled() && signature != "" && !o.Auth.Signed(signature, body) {
		return o.fail(w, r, source, http.StatusUnauthorized, "invalid "+SignatureHeader)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !contains(types, mt) {
		return o.fail(w, r, source, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q is not accepted here (want %v)", r.Header.Get("Content-Type"), types))
	}
	pushes, skipped, err := parse(body)
	if err != nil {
		return o.fail(w, r, source, http.StatusBadRequest, err.Error())
	}
	var allowed []store.Push
	for _, p := range pushes {
		if o.Allowed != nil && !o.Allowed(p.Registry) {
			skipped = append(skipped, Skipped{Event: p.Ref(), Reason: "registry " + p.Registry + " is not configured"})
			continue
		}
		allowed = append(allowed, p)
	}
	if source == "api" && len(allowed) == 0 && len(skipped) > 0 {
		// A direct API call asked for exactly this image: say why it will not be scanned.
		return o.fail(w, r, source, http.StatusBadRequest, skipped[0].Reason)
	}
	ctx, cancel := context.WithTimeout(r.Context(), o.AckTimeout)
	defer cancel()
	res, err := o.Submit(ctx, allowed)
	if err != nil {
		o.Log.Error("queueing pushes failed", "endpoint", source, "err", err)
		return o.fail(w, r, source, http.StatusServiceUnavailable, "could not queue the events durably; retry")
	}
	resp := Response{Skipped: skipped}
	if resp.Skipped == nil {
		resp.Skipped = []Skipped{}
	}
	for i, ir := range res {
		result := "duplicate"
		if ir.Queued {
			resp.Queued++
			result = "queued"
			o.Log.Info("scan queued", "image", allowed[i].Ref(), "tag", allowed[i].Tag, "source", source)
		} else {
			resp.Known++
		}
		if o.Metrics != nil {
			o.Metrics.Events.WithLabelValues(source, result).Inc()
		}
	}
	if o.Metrics != nil && len(skipped) > 0 {
		o.Metrics.Events.WithLabelValues(source, "skipped").Add(float64(len(skipped)))
	}
	WriteJSON(w, http.StatusAccepted, resp)
	return http.StatusAccepted
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
