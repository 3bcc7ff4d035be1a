package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" keyed with the shared secret.
const SignatureHeader = "X-Tollgate-Signature-256"

// Auth checks a request with the shared secret: "Authorization: Bearer <secret>" (what
// Distribution's endpoint headers and Harbor's "Auth Header" send) or an HMAC signature of the
// body. An empty secret means authentication was explicitly disabled.
type Auth struct {
	Secret []byte
}

// Enabled reports whether requests must authenticate.
func (a Auth) Enabled() bool { return len(a.Secret) > 0 }

// Bearer reports whether the request has a valid bearer token; ok=false when it has none.
func (a Auth) Bearer(r *http.Request) (valid, present bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return false, false
	}
	tok, found := strings.CutPrefix(h, "Bearer ")
	if !found {
		return false, true
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), a.Secret) == 1, true
}

// Signed reports whether sig is the HMAC of body.
func (a Auth) Signed(sig string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(sig), "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, Sign(a.Secret, body))
}

// Sign is the HMAC-SHA256 of body with key.
func Sign(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}

// SignatureValue is the header value for body signed with key.
func SignatureValue(key, body []byte) string { return "sha256=" + hex.EncodeToString(Sign(key, body)) }
