package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	digest "github.com/opencontainers/go-digest"
	"github.com/tonistiigi/fsutil"

	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Result is a finished build.
type Result struct {
	Archive   string   // OCI archive (tar of an OCI image layout)
	Digest    string   // sha256:... of the manifest, or of the index for several platforms
	Platforms []string // platforms built
	Steps     int      // build steps (vertices) BuildKit reported
	Cached    int      // of which were cache hits
}

// Solve builds the plan on the BuildKit daemon at addr and writes the OCI archive to archive
// (through a temp file, so a failed build leaves none). progress receives one line per finished
// step. A Dockerfile or source that fails to build is a *model.InputError naming the Dockerfile
// line with the end of the step's log; a daemon failure is a *model.ToolError. daemonExited,
// when not nil, is closed if the daemon dies: the build then fails at once as a tool error.
func Solve(ctx context.Context, addr string, p *Plan, archive string, progress func(string), daemonExited <-chan struct{}) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	gone := make(chan struct{})
	if daemonExited != nil {
		go func() {
			select {
			case <-daemonExited:
				close(gone)
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	c, err := client.New(ctx, addr)
	if err != nil {
		return nil, toolErr(fmt.Errorf("connect to buildkitd at %s: %w", addr, err))
	}
	defer c.Close()

	ctxFS, err := fsutil.NewFS(p.ContextDir)
	if err != nil {
		return nil, &model.InputError{File: p.ContextDir, Err: fmt.Errorf("build context: %w", err)}
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(p.Dockerfile))
	if err != nil {
		return nil, &model.InputError{File: p.DockerfileRel, Err: err}
	}
	var srcs []secretsprovider.Source
	for _, s := range p.Secrets {
		srcs = append(srcs, secretsprovider.Source{ID: s.ID, Env: s.Env, FilePath: s.File})
	}
	store, err := secretsprovider.NewStore(srcs)
	if err != nil {
		return nil, &model.InputError{Err: fmt.Errorf("build secrets: %w", err)}
	}
	if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
		return nil, toolErr(fmt.Errorf("build output: %w", err))
	}
	tmp := archive + ".partial"
	defer os.Remove(tmp)
	opt := client.SolveOpt{
		// The same key for the same context dir lets BuildKit send only what changed since
		// the last build from this directory.
		SharedKey:     "tollgate:" + digest.FromString(p.ContextDir).Encoded()[:32],
		Frontend:      "dockerfile.v0",
		FrontendAttrs: FrontendAttrs(p),
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports: []client.ExportEntry{{
			Type:  client.ExporterOCI,
			Attrs: ExportAttrs(p),
			Output: func(map[string]string) (io.WriteCloser, error) {
				return os.Create(tmp)
			},
		}},
		Session: []session.Attachable{
			secretsprovider.NewSecretProvider(store),
			authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{AuthConfigProvider: keychainAuth}),
		},
	}
	tr := newTracker(progress, secretValues(p))
	ch := make(chan *client.SolveStatus)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for st := range ch {
			tr.update(st)
		}
	}()
	resp, err := c.Solve(ctx, nil, opt, ch)
	wg.Wait()
	if err != nil {
		select {
		case <-gone:
			return nil, toolErr(fmt.Errorf("%w: %s", errDaemonGone, oneLine(err.Error())))
		default:
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, toolErr(fmt.Errorf("the build did not finish within %s (build.timeout)%s", p.Timeout, tr.runningStep()))
		}
		return nil, classify(err, p, tr)
	}
	dg := resp.ExporterResponse["containerimage.digest"]
	if _, perr := digest.Parse(dg); perr != nil {
		return nil, toolErr(fmt.Errorf("BuildKit reported no image digest (got %q)", dg))
	}
	if err := os.Rename(tmp, archive); err != nil {
		return nil, toolErr(fmt.Errorf("build output: %w", err))
	}
	return &Result{Archive: archive, Digest: dg, Platforms: p.Platforms, Steps: tr.total, Cached: tr.cached}, nil
}

// keychainAuth hands BuildKit the credentials Tollgate itself would use for a registry (the
// Tollgate env variables for that registry, else the docker config), to pull private bases.
func keychainAuth(_ context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
	if host == authprovider.DockerHubRegistryHost {
		host = name.DefaultRegistry
	}
	reg, err := name.NewRegistry(host)
	if err != nil {
		return types.AuthConfig{}, nil
	}
	a, err := image.Keychain(reg.RegistryStr()).Resolve(reg)
	if err != nil || a == authn.Anonymous {
		return types.AuthConfig{}, nil
	}
	cfg, err := a.Authorization()
	if err != nil {
		return types.AuthConfig{}, err
	}
	return types.AuthConfig{Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth,
		IdentityToken: cfg.IdentityToken, RegistryToken: cfg.RegistryToken}, nil
}

// secretValues reads the build secrets' values only to mask them in logs Tollgate prints.
func secretValues(p *Plan) []string {
	var out []string
	for _, s := range p.Secrets {
		var v string
		if s.Env != "" {
			v = os.Getenv(s.Env)
		} else if b, err := os.ReadFile(s.File); err == nil && len(b) < 1<<20 {
			v = string(b)
		}
		for _, cand := range []string{v, strings.TrimSpace(v)} {
			if len(cand) >= 4 {
				out = append(out, cand)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// tracker follows BuildKit's status stream: step names, cache hits, the failing step and the
// tail of each step's log.
type tracker struct {
	mu       sync.Mutex
	progress func(string)
	mask     []string
	names    map[digest.Digest]string
	started  map[digest.Digest]time.Time
	done     map[digest.Digest]bool
	logs     map[digest.Digest]*tailBuffer
	failed   []digest.Digest
	// interrupted names steps that were cut short by a timeout or a cancel.
	interrupted []string
	total       int
	cached      int
}

func newTracker(progress func(string), mask []string) *tracker {
	if progress == nil {
		progress = func(string) {}
	}
	return &tracker{progress: progress, mask: mask, names: map[digest.Digest]string{}, started: map[digest.Digest]time.Time{},
		done: map[digest.Digest]bool{}, logs: map[digest.Digest]*tailBuffer{}}
}

func (t *tracker) update(st *client.SolveStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range st.Vertexes {
		t.names[v.Digest] = v.Name
		if v.Started != nil {
			t.started[v.Digest] = *v.Started
		}
		switch {
		case v.Error == "":
		case strings.Contains(v.Error, "context canceled") || strings.Contains(v.Error, "deadline exceeded"):
			// Cut short by a timeout or a cancel: it was still running.
			if !t.done[v.Digest] && !strings.HasPrefix(v.Name, "[internal]") {
				t.interrupted = append(t.interrupted, t.scrub(oneLine(v.Name)))
			}
		default:
			t.failed = append(t.failed, v.Digest)
		}
		if v.Completed == nil || t.done[v.Digest] {
			continue
		}
		t.done[v.Digest] = true
		if strings.HasPrefix(v.Name, "[internal]") || v.Error != "" {
			continue
		}
		t.total++
		how := ""
		switch {
		case v.Cached:
			t.cached++
			how = " (cached)"
		case v.Started != nil:
			how = fmt.Sprintf(" (%s)", v.Completed.Sub(*v.Started).Round(10*time.Millisecond))
		}
		t.progress(t.scrub(oneLine(v.Name)) + how)
	}
	for _, l := range st.Logs {
		b, ok := t.logs[l.Vertex]
		if !ok {
			b = newTailBuffer(16 << 10)
			t.logs[l.Vertex] = b
		}
		b.Write(l.Data)
	}
}

// scrub replaces secret values in text Tollgate is about to print.
func (t *tracker) scrub(s string) string {
	for _, m := range t.mask {
		s = strings.ReplaceAll(s, m, "****")
	}
	return s
}

// logTail is the end of the failed step's log (or of the given vertex's), secrets masked.
func (t *tracker) logTail(v digest.Digest, n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v == "" && len(t.failed) > 0 {
		v = t.failed[0]
	}
	b, ok := t.logs[v]
	if !ok {
		return ""
	}
	return t.scrub(strings.TrimSpace(lastLines(string(b.Bytes()), n)))
}

func (t *tracker) failedStep() (digest.Digest, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failed) == 0 {
		return "", ""
	}
	return t.failed[0], t.names[t.failed[0]]
}

// runningStep names the steps that had started but not finished, for a timeout message.
func (t *tracker) runningStep() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := append([]string(nil), t.interrupted...)
	for d := range t.started {
		if !t.done[d] && !strings.HasPrefix(t.names[d], "[internal]") {
			names = append(names, t.scrub(oneLine(t.names[d])))
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return "; still running: " + strings.Join(names, "; ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
