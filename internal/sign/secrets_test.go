package sign_test

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tollgate-dev/tollgate/internal/testimage"
)

// procWatch polls /proc while tollgate runs: the command line of every process on the machine
// must be free of the secrets, and it records which programs tollgate started (so the check is
// known to have seen cosign).
type procWatch struct {
	secrets []string
	mu      sync.Mutex
	root    int            // tollgate's pid, set when started
	parent  map[int]int    // pid -> ppid, of processes seen
	comm    map[int]string // pid -> command line, of processes seen
	leaks   []string
	stop    chan struct{}
	done    chan struct{}
}

func watchProc(secrets ...string) *procWatch {
	w := &procWatch{secrets: secrets, parent: map[int]int{}, comm: map[int]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *procWatch) loop() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil || len(cmdline) == 0 {
				continue
			}
			line := string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
			for _, s := range w.secrets {
				if leak := "pid " + e.Name() + ": " + line; strings.Contains(line, s) {
					w.mu.Lock()
					if !slices.Contains(w.leaks, leak) {
						w.leaks = append(w.leaks, leak)
					}
					w.mu.Unlock()
				}
			}
			stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
			fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(fields) < 2 {
				continue
			}
			ppid, _ := strconv.Atoi(fields[1])
			w.mu.Lock()
			w.parent[pid], w.comm[pid] = ppid, line
			w.mu.Unlock()
		}
		time.Sleep(time.Millisecond)
	}
}

// started notes tollgate's pid.
func (w *procWatch) started(pid int) {
	w.mu.Lock()
	w.root = pid
	w.mu.Unlock()
}

// children lists the command lines of the processes seen descending from tollgate's last run.
func (w *procWatch) children() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for pid, line := range w.comm {
		for p, hops := w.parent[pid], 0; p != 0 && hops < 10; p, hops = w.parent[p], hops+1 {
			if p == w.root {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

func (w *procWatch) finish() []string {
	close(w.stop)
	<-w.done
	return w.leaks
}

// The secret canary: a key password and a registry password of random values go through keys
// generate, sign, attest, verify and failing attempts; they appear in no stdout, stderr, report or
// artifact, and in no /proc/PID/cmdline of any process while the commands run.
func TestSecretsNeverLeak(t *testing.T) {
	need(t)
	keyPW, regPW, wrongPW := "kpw-"+random(), "rpw-"+random(), "wrong-"+random()
	const user = "ci-bot"
	regDir := t.TempDir()
	reg, err := testimage.StartDistribution(t.Context(), regDir, testimage.DistributionOptions{User: user, Password: regPW})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	push(t, reg.Host, "team/secret:1", small(t), &authn.Basic{Username: user, Password: regPW})
	ref := reg.Host + "/team/secret:1"

	dir := project(t, "")
	out := filepath.Join(dir, "reports")
	os.WriteFile(filepath.Join(dir, "sbom.spdx.json"), []byte(strings.Replace(spdxFixture, "%s", time.Now().UTC().Format(time.RFC3339), 1)), 0o644)
	os.WriteFile(filepath.Join(dir, "trivy.json"), []byte(trivyReport(time.Now(), "")), 0o644)
	env := map[string]string{"TOLLGATE_COSIGN_PASSWORD": keyPW, "TOLLGATE_REGISTRY_USERNAME": user, "TOLLGATE_REGISTRY_PASSWORD": regPW}
	w := watchProc(keyPW, regPW, wrongPW)
	var outputs []string
	runs := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		children string // a program tollgate must have been seen starting
	}{
		{"keys generate", env, []string{"keys", "generate", "-C", dir, "--prefix", "canary"}, 0, "cosign generate-key-pair"},
		{"sign", env, args([]string{"sign", ref, "--key", "canary.key", "--out", out}, signFlags), 0, "cosign sign"},
		{"attest", env, args([]string{"attest", ref, "--key", "canary.key", "--out", out, "--sbom", "sbom.spdx.json", "--vuln-report", "trivy.json"}, signFlags), 0, "cosign attest"},
		{"verify", env, args([]string{"verify", ref, "--public-key", "canary.pub", "--out", out, "--require", "sbom", "--require", "vuln", "--require", "provenance"}, verifyFlags), 0, "cosign verify-attestation"},
		{"wrong key password", map[string]string{"TOLLGATE_COSIGN_PASSWORD": wrongPW, "TOLLGATE_REGISTRY_USERNAME": user, "TOLLGATE_REGISTRY_PASSWORD": regPW},
			args([]string{"sign", ref, "--key", "canary.key", "--out", filepath.Join(dir, "reports-2")}, signFlags), 2, ""},
		{"wrong registry password", map[string]string{"TOLLGATE_COSIGN_PASSWORD": keyPW, "TOLLGATE_REGISTRY_USERNAME": user, "TOLLGATE_REGISTRY_PASSWORD": wrongPW},
			args([]string{"sign", ref, "--key", "canary.key", "--out", filepath.Join(dir, "reports-3")}, signFlags), 2, ""},
	}
	for _, r := range runs {
		full := append(slices.Clone(r.args), "--format", "json", "--progress", "plain", "--no-install")
		if r.name == "keys generate" {
			full = r.args
		}
		res := tollgateIn(w.started, dir, r.env, full...)
		if res.code != r.code {
			w.finish()
			t.Fatalf("%s: exit %d, want %d\n%s", r.name, res.code, r.code, res)
		}
		outputs = append(outputs, r.name+" stdout:\n"+res.stdout, r.name+" stderr:\n"+res.stderr)
		if r.children != "" {
			kids := strings.Join(w.children(), "\n")
			if !strings.Contains(kids, r.children) {
				w.finish()
				t.Fatalf("%s: the /proc watch never saw %q among tollgate's children (saw %q): it would miss a leak", r.name, r.children, kids)
			}
		}
	}
	if leaks := w.finish(); len(leaks) > 0 {
		t.Fatalf("secrets on process command lines:\n%s", strings.Join(leaks, "\n"))
	}
	files := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		outputs = append(outputs, p+":\n"+string(b))
		files++
		return nil
	})
	if files < 8 {
		t.Fatalf("only %d files in the project and reports: the canary checks too little", files)
	}
	for _, o := range outputs {
		for _, s := range []string{keyPW, regPW, wrongPW} {
			if strings.Contains(o, s) {
				name, _, _ := strings.Cut(o, "\n")
				t.Errorf("a secret appears in %s", name)
			}
		}
	}
}

// A signing run that breaks half-way (the registry refuses the second signature) is a tool error,
// and what it left behind never verifies: verification demands every manifest's signature.
func TestHalfSignedIndexNeverVerifies(t *testing.T) {
	need(t)
	target, _ := url.Parse("http://" + fx.reg.Host)
	var mu sync.Mutex
	var sigTags []string
	inject := true
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
	})
	defer proxy.Close()
	guard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256-") && strings.HasSuffix(r.URL.Path, ".sig") {
			mu.Lock()
			if !slices.Contains(sigTags, r.URL.Path) {
				sigTags = append(sigTags, r.URL.Path)
			}
			refuse := inject && sigTags[0] != r.URL.Path
			mu.Unlock()
			if refuse {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"errors":[{"code":"DENIED","message":"injected failure"}]}`))
				return
			}
		}
		proxy.Config.Handler.ServeHTTP(w, r)
	}))
	defer guard.Close()
	host := strings.TrimPrefix(guard.URL, "http://")

	idx, err := testimage.Index("linux/amd64", "linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	ref := pushIndex(t, host, "team/half:1", idx)
	dir := project(t, "")
	r := tollgate(t, dir, keyEnv(), args([]string{"sign", ref, "--key", fx.key}, signFlags)...)
	if r.code != 3 || !strings.Contains(r.stderr, "injected failure") {
		t.Fatalf("sign with a registry failing half-way: %s", r)
	}
	mu.Lock()
	inject = false
	written := len(sigTags)
	mu.Unlock()
	if written < 2 {
		t.Fatalf("cosign wrote %d signature tag(s) before failing: the test did not break signing half-way", written)
	}
	r = tollgate(t, dir, nil, args([]string{"verify", ref, "--public-key", fx.pub}, verifyFlags)...)
	unsigned := 0
	for _, rule := range r.rules("verify") {
		if rule == "VERIFY001" {
			unsigned++
		}
	}
	if r.code != 1 || unsigned == 0 || unsigned == 3 {
		t.Fatalf("verify after a half-done signing: %d of 3 manifests unsigned, want some but not all, and exit 1\n%s", unsigned, r)
	}
}
