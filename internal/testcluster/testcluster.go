// Package testcluster starts a real Kubernetes API server for tests, the way controller-runtime's
// envtest does: Debian's etcd and the pinned kube-apiserver (built from the Go module proxy by
// the tool installer) as plain processes on 127.0.0.1, with certificates generated here and
// token authentication. No controller manager, scheduler or kubelet runs: objects are stored
// and judged (schema, admission, RBAC) but nothing acts on them, so tests drive status through
// the API themselves.
package testcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/internal/debpkg"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// EtcdPackage is the Debian package that provides etcd.
const EtcdPackage = "etcd-server"

// Binaries are the two server programs.
type Binaries struct {
	Etcd, APIServer string
}

// Ensure finds etcd (installing Debian's etcd-server with apt when it is missing) and the pinned
// kube-apiserver (building it through the installer when it is missing). Call it from TestMain,
// before m.Run, so the one-time build does not count against a test's timeout.
func Ensure(ctx context.Context, in *tools.Installer, progress io.Writer) (Binaries, error) {
	etcd, err := ensureEtcd(ctx, progress)
	if err != nil {
		return Binaries{}, err
	}
	api, err := in.Ensure(ctx, "kube-apiserver")
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{Etcd: etcd, APIServer: api}, nil
}

// ensureEtcd installs etcd-server when etcd is not on PATH (debpkg keeps Debian from starting a
// system etcd service on install).
func ensureEtcd(ctx context.Context, progress io.Writer) (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if progress != nil {
		fmt.Fprintf(progress, "installing %s with apt (etcd for the test API server)...\n", EtcdPackage)
	}
	return debpkg.Need(ctx, "etcd", EtcdPackage)
}

// Cluster is a running etcd + kube-apiserver pair.
type Cluster struct {
	// URL is the API server's https://127.0.0.1:PORT.
	URL string
	// CA is the PEM of the authority that signed the serving certificate.
	CA []byte
	// AdminToken authenticates as a member of system:masters.
	AdminToken string
	// Dir holds certificates, the token file, etcd's data and both logs.
	Dir string

	clientCA *authority
	procs    []*exec.Cmd
	waits    []chan error
}

// User is an extra bearer-token user written into the token file before the server starts.
type User struct {
	Token  string
	Name   string
	Groups []string
}

// Options configure Start.
type Options struct {
	// Users get bearer tokens besides the admin.
	Users []User
	// ListenAddress is where kube-apiserver binds (default 127.0.0.1). The Dagger lab uses its
	// bridge address so engine containers can reach it.
	ListenAddress string
	// StartTimeout bounds the wait for /readyz (default 3 minutes: two busy cores start slowly).
	StartTimeout time.Duration
}

// RandomToken returns a random bearer token (hex).
func RandomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// Start runs etcd and kube-apiserver in dir (a fresh temp dir is fine) and waits until the API
// server is ready. Stop ends both; the processes also die with the test binary.
func Start(ctx context.Context, bin Binaries, dir string, o Options) (c *Cluster, err error) {
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 3 * time.Minute
	}
	c = &Cluster{Dir: dir, AdminToken: RandomToken()}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	ports, err := freePorts("127.0.0.1", 2)
	if err != nil {
		return nil, err
	}
	apiPorts, err := freePorts(o.ListenAddress, 1)
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], apiPorts[0]

	// Certificates: a serving CA and certificate for the listen address, a client CA (for
	// client-certificate users such as the expired one), a service account signing key.
	serving, err := newAuthority("tollgate-test-serving-ca")
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(o.ListenAddress)
	certPEM, keyPEM, err := serving.issue("kube-apiserver", nil, []net.IP{ip, net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	if c.clientCA, err = newAuthority("tollgate-test-client-ca"); err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"serving.crt": certPEM, "serving.key": keyPEM, "serving-ca.crt": serving.pem, "client-ca.crt": c.clientCA.pem,
	}
	var tokens strings.Builder
	fmt.Fprintf(&tokens, "%s,admin,uid-admin,\"system:masters\"\n", c.AdminToken)
	for i, u := range o.Users {
		fmt.Fprintf(&tokens, "%s,%s,uid-%d,\"%s\"\n", u.Token, u.Name, i, strings.Join(u.Groups, ","))
	}
	files["tokens.csv"] = []byte(tokens.String())
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	if err := writeKey(filepath.Join(dir, "sa.key")); err != nil {
		return nil, err
	}
	c.CA = serving.pem

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	if err := c.spawn(bin.Etcd, filepath.Join(dir, "etcd.log"),
		"--name", "tollgate-test",
		"--data-dir", filepath.Join(dir, "etcd-data"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "tollgate-test="+peerURL,
		"--unsafe-no-fsync"); err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, 0, etcdURL+"/health", nil, "", time.Minute); err != nil {
		return nil, fmt.Errorf("etcd did not become healthy: %w\n%s", err, tailFile(filepath.Join(dir, "etcd.log")))
	}

	c.URL = "https://" + net.JoinHostPort(o.ListenAddress, strconv.Itoa(apiPort))
	if err := c.spawn(bin.APIServer, filepath.Join(dir, "kube-apiserver.log"),
		"--etcd-servers="+etcdURL,
		"--bind-address="+o.ListenAddress,
		"--advertise-address="+o.ListenAddress,
		"--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(dir, "cert-dir"),
		"--tls-cert-file="+filepath.Join(dir, "serving.crt"),
		"--tls-private-key-file="+filepath.Join(dir, "serving.key"),
		"--client-ca-file="+filepath.Join(dir, "client-ca.crt"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/24",
		// Pods may ask for privileges, so admission policies (not the API server's own
		// validation) are what refuses them in the tests.
		"--allow-privileged=true",
		// Without a controller manager no namespace gets a default ServiceAccount; the
		// ServiceAccount admission plugin would refuse every Pod for it.
		"--disable-admission-plugins=ServiceAccount",
		"--profiling=false",
	); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CA)
	if err := c.waitHTTP(ctx, 1, c.URL+"/readyz", pool, c.AdminToken, o.StartTimeout); err != nil {
		return nil, fmt.Errorf("kube-apiserver did not become ready: %w\n%s", err, tailFile(filepath.Join(dir, "kube-apiserver.log")))
	}
	return c, nil
}

// spawn starts a server process with its output in a log file. It runs in its own process group
// and is killed when the test binary dies (Pdeathsig), so no server outlives its tests.
func (c *Cluster) spawn(path, logFile string, args ...string) error {
	lf, err := os.Create(logFile)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.Dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start %s: %w", filepath.Base(path), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); lf.Close() }()
	c.procs = append(c.procs, cmd)
	c.waits = append(c.waits, done)
	return nil
}

// waitHTTP polls url until it answers 200, the process i exits, or the timeout passes.
func (c *Cluster) waitHTTP(ctx context.Context, i int, url string, pool *x509.CertPool, token string, timeout time.Duration) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case err := <-c.waits[i]:
			c.waits[i] <- err
			return fmt.Errorf("exited: %v", err)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %s: %s", timeout, last)
}

// Stop kills both processes and waits for them.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		if p.Process != nil {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			select {
			case <-c.waits[i]:
			case <-time.After(10 * time.Second):
			}
		}
	}
	c.procs, c.waits = nil, nil
}

// Kubeconfig returns a kubeconfig for the cluster that authenticates with a bearer token.
func (c *Cluster) Kubeconfig(token string) []byte {
	return c.kubeconfig(c.URL, fmt.Sprintf("    token: %s\n", token))
}

// KubeconfigAt is Kubeconfig with another server URL (an address where nothing answers or
// something never does), same CA and token.
func (c *Cluster) KubeconfigAt(url, token string) []byte {
	return c.kubeconfig(url, fmt.Sprintf("    token: %s\n", token))
}

// ClientCertKubeconfig returns a kubeconfig whose user is a client certificate (CN user, in
// system:masters) valid from notBefore to notAfter: a past notAfter makes expired credentials.
func (c *Cluster) ClientCertKubeconfig(user string, notBefore, notAfter time.Time) ([]byte, error) {
	certPEM, keyPEM, err := c.clientCA.issue(user, []string{"system:masters"}, nil, nil, notBefore, notAfter)
	if err != nil {
		return nil, err
	}
	return c.kubeconfig(c.URL, fmt.Sprintf("    client-certificate-data: %s\n    client-key-data: %s\n", b64(certPEM), b64(keyPEM))), nil
}

func (c *Cluster) kubeconfig(url, user string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: test
  user:
%scontexts:
- name: test
  context:
    cluster: test
    user: test
current-context: test
`, url, b64(c.CA), user))
}

func freePorts(host string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("free port on %s: %w", host, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func tailFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return tools.LastLines(b, 15)
}
