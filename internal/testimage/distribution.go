package testimage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/internal/debpkg"
	"golang.org/x/crypto/bcrypt"
)

// Distribution is Debian's docker-registry (CNCF Distribution 2.x) running as a plain process on
// 127.0.0.1 with a generated config in its own directory: a real registry where registry
// behaviour matters (tag and digest semantics, auth, signatures stored as tags).
type Distribution struct {
	// Host is 127.0.0.1:PORT (plain HTTP).
	Host string
	// Dir holds the config, the storage and registry.log.
	Dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// DistributionOptions configure the registry.
type DistributionOptions struct {
	// User and Password, when set, make the registry demand HTTP basic auth (htpasswd).
	User, Password string
	// Addr is a fixed 127.0.0.1:PORT to listen on; empty picks a free port.
	Addr string
}

// EnsureDistribution finds docker-registry, installing the Debian package when it is missing
// (apt waits for the shared dpkg lock). It returns the binary's path.
func EnsureDistribution(ctx context.Context) (string, error) {
	return debpkg.Need(ctx, "docker-registry", "docker-registry")
}

// StartDistribution starts a registry with its config and storage in dir (a fresh directory)
// and waits until it answers. Stop it with Stop.
func StartDistribution(ctx context.Context, dir string, o DistributionOptions) (*Distribution, error) {
	bin, err := EnsureDistribution(ctx)
	if err != nil {
		return nil, err
	}
	auth := ""
	if o.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(o.User+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: tollgate-test\n    path: %s\n", htpasswd)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		host := o.Addr
		if host != "" {
			// Another registry already there would answer the readiness probe in our stead.
			l, err := net.Listen("tcp", host)
			if err != nil {
				return nil, fmt.Errorf("docker-registry: %s is taken: %w", host, err)
			}
			l.Close()
		} else {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			host = fmt.Sprintf("127.0.0.1:%d", port)
		}
		d := &Distribution{Host: host, Dir: dir}
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: tollgate-test-secret
%s`, filepath.Join(dir, "storage"), d.Host, auth)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		logf, err := os.OpenFile(filepath.Join(dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		d.cmd = exec.Command(bin, "serve", cfgPath)
		d.cmd.Stdout, d.cmd.Stderr = logf, logf
		d.cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
		// The registry dies with the test binary, even when that is killed.
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := d.cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("start docker-registry: %w", err)
		}
		logf.Close()
		exited := make(chan error, 1)
		d.done = make(chan struct{})
		go func() { exited <- d.cmd.Wait(); close(d.done) }()
		err = d.waitReady(ctx, exited)
		if err == nil {
			// The probe may have reached a process that took the port meanwhile: ours must be alive.
			select {
			case <-d.done:
				err = fmt.Errorf("docker-registry exited: %v", <-exited)
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err != nil {
			d.cmd.Process.Kill()
			<-d.done
			lastErr = err
			if o.Addr != "" {
				break // a fixed address that does not work will not work on a retry
			}
			continue // most likely the port was taken meanwhile: try another
		}
		return d, nil
	}
	b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
	return nil, fmt.Errorf("docker-registry did not start: %v\n%s", lastErr, lastLines(string(b), 10))
}

func (d *Distribution) waitReady(ctx context.Context, exited <-chan error) error {
	deadline := time.Now().Add(20 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("docker-registry exited: %v", <-exited)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get("http://" + d.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("docker-registry did not answer within 20s")
}

// Stop ends the registry process.
func (d *Distribution) Stop() {
	if d == nil || d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
