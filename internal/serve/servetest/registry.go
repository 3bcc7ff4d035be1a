package servetest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Registry is a running Distribution registry (Debian's docker-registry).
type Registry struct {
	Host string // 127.0.0.1:PORT
	User string
	Pass string
}

// Endpoint is one notifications endpoint of the registry.
type Endpoint struct {
	URL   string
	Token string // sent as Authorization: Bearer TOKEN
}

// StartRegistry runs docker-registry as a plain process on 127.0.0.1 with a generated config
// in a temp dir: htpasswd auth with user/pass, deletes enabled, and notifications of manifest
// events to the endpoints. Debian's package may also ship a system service; it is not used.
func StartRegistry(t testing.TB, user, pass string, endpoints ...Endpoint) *Registry {
	t.Helper()
	bin := NeedPackage(t, "docker-registry", "/usr/bin/docker-registry")
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	host := "127.0.0.1:" + itoa(port)
	var eps strings.Builder
	for i, e := range endpoints {
		eps.WriteString(`    - name: tollgate-` + itoa(i) + `
      url: ` + e.URL + `
      headers:
        Authorization: [Bearer ` + e.Token + `]
      timeout: 5s
      threshold: 5
      backoff: 500ms
      ignoredmediatypes: [application/octet-stream]
`)
	}
	notifications := ""
	if len(endpoints) > 0 {
		notifications = "notifications:\n  endpoints:\n" + eps.String()
	}
	cfg := `version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ` + filepath.Join(dir, "data") + `
  delete:
    enabled: true
http:
  addr: ` + host + `
auth:
  htpasswd:
    realm: tollgate-test
    path: ` + filepath.Join(dir, "htpasswd") + `
` + notifications
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
	p := start(t, cmd, filepath.Join(dir, "registry.log"))
	t.Cleanup(p.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p.exited() {
			t.Fatalf("docker-registry exited:\n%s", p.logTail())
		}
		if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not come up:\n%s", p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &Registry{Host: host, User: user, Pass: pass}
}
