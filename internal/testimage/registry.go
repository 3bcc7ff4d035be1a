package testimage

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry starts an in-memory OCI registry on 127.0.0.1 that demands HTTP basic auth with
// user and pass, and returns its host:port and a function that stops it.
func Registry(user, pass string) (host string, stop func()) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="tollgate-test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	return strings.TrimPrefix(srv.URL, "http://"), srv.Close
}
