package servetest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Request is one request a Receiver recorded.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// Receiver is a local HTTP endpoint that records every request and answers 200.
type Receiver struct {
	URL  string
	mu   sync.Mutex
	reqs []Request
}

// NewReceiver starts a recording receiver on 127.0.0.1.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, Request{req.Method, req.URL.Path, req.Header.Clone(), b})
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Requests returns what was received so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}
