package build

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// project writes a build context with files (Dockerfile included) and returns its dir.
func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// plan resolves a plan for dir with a config built by edit; env is the whole environment.
func plan(t *testing.T, dir string, env map[string]string, edit func(c *config.Config)) *Plan {
	t.Helper()
	c := config.Default()
	c.Build.Configured = true
	if edit != nil {
		edit(c)
	}
	p, err := NewPlan(dir, c, GitInfo{}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func solve(t *testing.T, p *Plan) (*Result, error) {
	t.Helper()
	needFixtures(t)
	return Solve(context.Background(), fx.daemon.Addr, p, filepath.Join(t.TempDir(), "image.oci.tar"), func(s string) { t.Log("build: " + s) }, fx.daemon.Exited())
}

// image is an OCI archive opened for inspection: the image (first platform) and its layers.
type archiveImage struct {
	img    v1.Image
	index  *v1.IndexManifest
	layout layout.Path
}

func openArchive(t *testing.T, archive string) *archiveImage {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := &archiveImage{index: im, layout: lp}
	d := im.Manifests[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cm, _ := child.IndexManifest()
		out.img, err = child.Image(cm.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		out.index = cm
		return out
	}
	out.img, err = idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// files returns every regular file of every layer, by layer, with contents.
func (im *archiveImage) layerFiles(t *testing.T) []map[string]string {
	t.Helper()
	layers, err := im.img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
		rc.Close()
		out = append(out, files)
	}
	return out
}

func TestRunStepRunsInTheBuild(t *testing.T) {
	dir := project(t, map[string]string{
		"Dockerfile": "FROM " + fx.base + "\nRUN apk-add libcrypto3 3.1.4-r0 openssl && npm-add lodash 4.17.15 /usr/src/app\nCOPY app.txt /usr/src/app/\n",
		"app.txt":    "hello\n",
	})
	p := plan(t, dir, nil, nil)
	res, err := solve(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ArchiveDigest(res.Archive); err != nil || got != res.Digest {
		t.Fatalf("archive digest %q (%v), BuildKit said %s", got, err, res.Digest)
	}
	im := openArchive(t, res.Archive)
	layers := im.layerFiles(t)
	if len(layers) != 3 {
		t.Fatalf("want base + RUN + COPY layers, got %d", len(layers))
	}
	run := layers[1]
	if db := run["lib/apk/db/installed"]; !strings.Contains(db, "P:libcrypto3\nV:3.1.4-r0") || !strings.Contains(db, "P:busybox") {
		t.Errorf("RUN layer's apk database lacks the installed package: %q", db)
	}
	if pj := run["usr/src/app/node_modules/lodash/package.json"]; !strings.Contains(pj, `"4.17.15"`) {
		t.Errorf("RUN layer lacks node_modules/lodash: %v", keys(run))
	}
	if layers[2]["usr/src/app/app.txt"] != "hello\n" {
		t.Errorf("COPY layer: %v", keys(layers[2]))
	}
	if res.Steps == 0 {
		t.Error("no steps reported")
	}
}

func TestFailingRunIsBadInputAtItsLine(t *testing.T) {
	dir := project(t, map[string]string{
		"Dockerfile": "FROM " + fx.base + "\nRUN echo preparing\nRUN fail first-line compiler-said-no\nRUN echo never\n",
	})
	_, err := solve(t, plan(t, dir, nil, nil))
	var ie *model.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("want *model.InputError, got %T %v", err, err)
	}
	msg := ie.Error()
	t.Logf("error:\n%s", msg)
	if ie.File != "Dockerfile" || ie.Line != 3 {
		t.Errorf("error at %s:%d, want Dockerfile:3: %s", ie.File, ie.Line, msg)
	}
	for _, want := range []string{"exit code: 3", "RUN fail first-line compiler-said-no", "compiler-said-no"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestBadDockerfileIsBadInput(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		line             int
		want             string
	}{
		{"unknown instruction", "FROM " + fx.base + "\nFROBNICATE now\n", 2, "unknown instruction"},
		{"missing COPY source", "FROM " + fx.base + "\nCOPY nothere.txt /x\n", 2, "nothere.txt"},
		{"missing base image", "FROM " + fx.registry + "/no/such:image\n", 1, "not found"},
		{"unknown target", "FROM " + fx.base + " AS one\n", 0, "target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := project(t, map[string]string{"Dockerfile": tt.dockerfile})
			_, err := solve(t, plan(t, dir, nil, func(c *config.Config) {
				if tt.name == "unknown target" {
					c.Build.Target = "two"
				}
			}))
			var ie *model.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("want *model.InputError, got %T %v", err, err)
			}
			t.Logf("error: %v", ie)
			if ie.Line != tt.line || !strings.Contains(strings.ToLower(ie.Error()), tt.want) {
				t.Errorf("got %s:%d %q, want line %d and %q", ie.File, ie.Line, ie.Error(), tt.line, tt.want)
			}
		})
	}
}

func TestUnreachableBaseRegistryIsToolError(t *testing.T) {
	dir := project(t, map[string]string{"Dockerfile": "FROM 127.0.0.1:1/nothing/here:1\n"})
	_, err := solve(t, plan(t, dir, nil, nil))
	var te *model.ToolError
	if !errors.As(err, &te) {
		t.Fatalf("want *model.ToolError (exit 3), got %T %v", err, err)
	}
	t.Logf("error: %v", err)
}

func TestTimeoutIsToolError(t *testing.T) {
	dir := project(t, map[string]string{"Dockerfile": "FROM " + fx.base + "\nRUN sleep 60\n"})
	p := plan(t, dir, nil, nil)
	p.Timeout = 3 * time.Second
	start := time.Now()
	_, err := solve(t, p)
	var te *model.ToolError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "build.timeout") {
		t.Fatalf("want a timeout *model.ToolError, got %T %v", err, err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("timeout took %s", d)
	}
	if !strings.Contains(err.Error(), "RUN sleep 60") {
		t.Errorf("timeout does not name the running step: %v", err)
	}
}

func TestDaemonCrashIsToolError(t *testing.T) {
	needFixtures(t)
	d, err := StartDaemon(context.Background(), DaemonOptions{Binary: fx.daemon.cmd.Path, Runc: runcPath(t), StateDir: filepath.Join(t.TempDir(), "state")})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	dir := project(t, map[string]string{"Dockerfile": "FROM " + fx.base + "\nRUN sleep 60\n"})
	p := plan(t, dir, nil, nil)
	done := make(chan error, 1)
	go func() {
		_, err := Solve(context.Background(), d.Addr, p, filepath.Join(t.TempDir(), "x.tar"), func(s string) {}, d.Exited())
		done <- err
	}()
	time.Sleep(3 * time.Second)
	d.cmd.Process.Kill()
	select {
	case err := <-done:
		var te *model.ToolError
		if !errors.As(err, &te) {
			t.Fatalf("want *model.ToolError, got %T %v", err, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("build did not end after the daemon was killed")
	}
}

func runcPath(t *testing.T) string {
	t.Helper()
	r, err := Requirements(exec.LookPath, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReproducibleWithSourceDateEpoch builds a COPY-only Dockerfile twice, each time with an
// empty cache and freshly written files (new mtimes): with SOURCE_DATE_EPOCH the digests are
// equal; without it they differ (the control that shows the comparison can fail).
func TestReproducibleWithSourceDateEpoch(t *testing.T) {
	needFixtures(t)
	build := func(epoch string) string {
		dir := project(t, map[string]string{
			"Dockerfile": "FROM scratch\nCOPY app.txt /app/app.txt\nCOPY conf/ /etc/app/\n",
			"app.txt":    "reproducible\n",
			"conf/a.yml": "a: 1\n",
		})
		now := time.Now()
		for _, f := range []string{"app.txt", "conf/a.yml"} {
			os.Chtimes(filepath.Join(dir, f), now, now)
		}
		env := map[string]string{}
		if epoch != "" {
			env[EnvSourceDateEpoch] = epoch
		}
		d, err := StartDaemon(context.Background(), DaemonOptions{Binary: fx.daemon.cmd.Path, Runc: runcPath(t), StateDir: filepath.Join(t.TempDir(), "state")})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Stop()
		res, err := Solve(context.Background(), d.Addr, plan(t, dir, env, nil), filepath.Join(t.TempDir(), "x.tar"), nil, d.Exited())
		if err != nil {
			t.Fatal(err)
		}
		return res.Digest
	}
	a := build("1700000000")
	time.Sleep(1100 * time.Millisecond) // a later second for every timestamp that is not clamped
	b := build("1700000000")
	if a != b {
		t.Errorf("same sources and SOURCE_DATE_EPOCH gave %s and %s", a, b)
	}
	c := build("")
	if c == a {
		t.Errorf("without SOURCE_DATE_EPOCH the digest did not change (%s): the comparison proves nothing", c)
	}
}

func TestSecretNeverInLayersOrHistory(t *testing.T) {
	const canary = "tg-canary-3f9a7c1e5d"
	dir := project(t, map[string]string{
		"Dockerfile": "FROM " + fx.base + "\nRUN --mount=type=secret,id=token,required=true sha256 /run/secrets/token /proof && echo token-used\n",
		"token.txt":  canary + "-from-file\n",
	})
	for _, src := range []string{"env", "file"} {
		t.Run(src, func(t *testing.T) {
			env := map[string]string{"TG_TEST_TOKEN": canary}
			t.Setenv("TG_TEST_TOKEN", canary) // the secrets provider reads the process environment
			p := plan(t, dir, env, func(c *config.Config) {
				s := config.BuildSecret{ID: "token", Env: "TG_TEST_TOKEN"}
				if src == "file" {
					s = config.BuildSecret{ID: "token", File: "token.txt"}
				}
				c.Build.Secrets = []config.BuildSecret{s}
			})
			var progress bytes.Buffer
			res, err := Solve(context.Background(), fx.daemon.Addr, p, filepath.Join(t.TempDir(), "x.tar"), func(s string) { progress.WriteString(s + "\n") }, fx.daemon.Exited())
			if err != nil {
				t.Fatal(err)
			}
			im := openArchive(t, res.Archive)
			layers := im.layerFiles(t)
			proof := layers[len(layers)-1]["proof"]
			if len(strings.TrimSpace(proof)) != 64 {
				t.Fatalf("the RUN step did not see the secret (proof %q)", proof)
			}
			raw, err := os.ReadFile(res.Archive)
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := im.img.RawConfigFile()
			for what, b := range map[string]string{"config and history": string(cfg), "progress": progress.String()} {
				if strings.Contains(b, canary) {
					t.Errorf("secret found in %s", what)
				}
			}
			for i, files := range layers {
				for name, content := range files {
					if strings.Contains(content, canary) || strings.Contains(name, canary) {
						t.Errorf("secret found in layer %d, %s", i, name)
					}
				}
			}
			if bytes.Contains(raw, []byte(canary)) {
				t.Error("secret found in the raw archive")
			}
		})
	}
}

func TestMultiPlatformCopyOnlyBuildsEveryVariant(t *testing.T) {
	dir := project(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY app.txt /app.txt\n", "app.txt": "x\n"})
	p := plan(t, dir, map[string]string{EnvSourceDateEpoch: "1700000000"}, func(c *config.Config) {
		c.Build.Platforms = []string{"linux/amd64", "linux/arm64"}
	})
	p.Annotations = Annotations(GitInfo{Source: "https://example.com/app.git", Revision: "abc123"}, p.SourceDateEpoch)
	res, err := solve(t, p)
	if err != nil {
		t.Fatal(err)
	}
	im := openArchive(t, res.Archive)
	var plats []string
	for _, m := range im.index.Manifests {
		if m.Platform != nil {
			plats = append(plats, m.Platform.OS+"/"+m.Platform.Architecture)
		}
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("index platforms %v", plats)
	}
	m, err := im.img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{AnnotationSource: "https://example.com/app.git", AnnotationRevision: "abc123", AnnotationCreated: "2023-11-14T22:13:20Z"}
	for k, v := range want {
		if m.Annotations[k] != v {
			t.Errorf("manifest annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if im.index.Annotations[AnnotationRevision] != "abc123" {
		t.Errorf("index annotations %v", im.index.Annotations)
	}
	b, _ := json.Marshal(m.Annotations)
	t.Logf("annotations %s", b)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
