package resultcache

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/tools"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// keyOf builds a key the way a stage does, from a function adding parts.
func keyOf(c *Cache, add func(k *Key)) *Key {
	k := c.NewKey("test")
	add(k)
	return k
}

func TestKeyIsStable(t *testing.T) {
	c := New(t.TempDir(), Options{})
	dir := t.TempDir()
	write(t, filepath.Join(dir, "k8s", "a.yaml"), "kind: A\n")
	write(t, filepath.Join(dir, "k8s", "sub", "b.yaml"), "kind: B\n")
	add := func(k *Key) {
		k.Value("config", map[string]any{"b": 1, "a": []string{"x"}})
		k.Tree("tree", filepath.Join(dir, "k8s"), SkipHidden)
		k.File("file", filepath.Join(dir, "k8s", "a.yaml"))
	}
	a, b := keyOf(c, add), keyOf(New(t.TempDir(), Options{}), add)
	if !a.Cacheable() || a.Sum() != b.Sum() {
		t.Fatalf("same inputs, different keys: %s %s (%s)", a.Sum(), b.Sum(), a.Reason())
	}
	if keyOf(c, func(k *Key) {}).Sum() == a.Sum() {
		t.Fatal("key ignores its parts")
	}
}

// TestEveryChangeChangesTheKey is the key's side of "a change causes a rerun": for each kind of
// input, one small change gives a different key.
func TestEveryChangeChangesTheKey(t *testing.T) {
	c := New(t.TempDir(), Options{})
	cases := map[string]struct {
		setup  func(t *testing.T, dir string)
		add    func(k *Key, dir string)
		change func(t *testing.T, dir string)
	}{
		"one byte of a file": {
			setup:  func(t *testing.T, d string) { write(t, filepath.Join(d, "a.yaml"), "replicas: 1\n") },
			add:    func(k *Key, d string) { k.File("f", filepath.Join(d, "a.yaml")) },
			change: func(t *testing.T, d string) { write(t, filepath.Join(d, "a.yaml"), "replicas: 2\n") },
		},
		"an optional file appears": {
			setup:  func(t *testing.T, d string) {},
			add:    func(k *Key, d string) { k.File("f", filepath.Join(d, ".trivyignore")) },
			change: func(t *testing.T, d string) { write(t, filepath.Join(d, ".trivyignore"), "") },
		},
		"one byte deep in a tree": {
			setup:  func(t *testing.T, d string) { write(t, filepath.Join(d, "k8s/x/y/a.yaml"), "a: 1\n") },
			add:    func(k *Key, d string) { k.Tree("t", filepath.Join(d, "k8s"), SkipHidden) },
			change: func(t *testing.T, d string) { write(t, filepath.Join(d, "k8s/x/y/a.yaml"), "a: 2\n") },
		},
		"a file added to a tree": {
			setup:  func(t *testing.T, d string) { write(t, filepath.Join(d, "k8s/a.yaml"), "a: 1\n") },
			add:    func(k *Key, d string) { k.Tree("t", filepath.Join(d, "k8s"), SkipHidden) },
			change: func(t *testing.T, d string) { write(t, filepath.Join(d, "k8s/b.yaml"), "") },
		},
		"a file renamed in a tree": {
			setup: func(t *testing.T, d string) { write(t, filepath.Join(d, "k8s/a.yaml"), "a: 1\n") },
			add:   func(k *Key, d string) { k.Tree("t", filepath.Join(d, "k8s"), SkipHidden) },
			change: func(t *testing.T, d string) {
				os.Rename(filepath.Join(d, "k8s/a.yaml"), filepath.Join(d, "k8s/b.yaml"))
			},
		},
		"a config value": {
			setup:  func(t *testing.T, d string) {},
			add:    func(k *Key, d string) { k.Value("c", struct{ Strict bool }{Strict: d != ""}) },
			change: nil, // handled below: the value differs
		},
		"a big file rewritten with the same size and time": {
			setup: func(t *testing.T, d string) {
				write(t, filepath.Join(d, "image.tar"), strings.Repeat("a", memoMinSize+10))
				old := time.Now().Add(-time.Hour)
				os.Chtimes(filepath.Join(d, "image.tar"), old, old) // old enough to be memoised
			},
			add: func(k *Key, d string) { k.File("image", filepath.Join(d, "image.tar")) },
			change: func(t *testing.T, d string) {
				p := filepath.Join(d, "image.tar")
				fi, _ := os.Stat(p)
				write(t, p, strings.Repeat("a", memoMinSize+9)+"b")
				os.Chtimes(p, fi.ModTime(), fi.ModTime()) // same size, same mtime: only ctime tells
			},
		},
		"a small file in a memoised tree rewritten with the same size and time": {
			setup: func(t *testing.T, d string) {
				for _, f := range []string{"schemas/a.json", "schemas/b.json"} {
					write(t, filepath.Join(d, f), `{"type":"string"}`)
					old := time.Now().Add(-time.Hour)
					os.Chtimes(filepath.Join(d, f), old, old) // old enough for the tree to be memoised
				}
			},
			add: func(k *Key, d string) { k.Data("schemas", filepath.Join(d, "schemas")) },
			change: func(t *testing.T, d string) {
				p := filepath.Join(d, "schemas/b.json")
				fi, _ := os.Stat(p)
				write(t, p, `{"type":"number"}`)
				os.Chtimes(p, fi.ModTime(), fi.ModTime())
			},
		},
		"a DB file replaced": {
			setup: func(t *testing.T, d string) { write(t, filepath.Join(d, "trivy.db"), "db v1") },
			add:   func(k *Key, d string) { k.DataVersion("db", filepath.Join(d, "trivy.db")) },
			change: func(t *testing.T, d string) {
				write(t, filepath.Join(d, "trivy.db.new"), "db v1")
				os.Rename(filepath.Join(d, "trivy.db.new"), filepath.Join(d, "trivy.db"))
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			before := keyOf(c, func(k *Key) { tc.add(k, dir) })
			if !before.Cacheable() {
				t.Fatalf("not cacheable: %s", before.Reason())
			}
			again := keyOf(c, func(k *Key) { tc.add(k, dir) })
			if again.Sum() != before.Sum() {
				t.Fatal("unchanged input, different key")
			}
			var after *Key
			if tc.change == nil {
				after = keyOf(c, func(k *Key) { tc.add(k, "") })
			} else {
				tc.change(t, dir)
				after = keyOf(c, func(k *Key) { tc.add(k, dir) })
			}
			if after.Sum() == before.Sum() {
				t.Fatal("the change did not change the key")
			}
		})
	}
}

func TestHiddenEntriesAreLeftOutOfManifestTrees(t *testing.T) {
	c := New(t.TempDir(), Options{})
	dir := t.TempDir()
	write(t, filepath.Join(dir, "k8s/a.yaml"), "a: 1\n")
	before := keyOf(c, func(k *Key) { k.Manifests("m", dir, []string{"k8s"}) })
	write(t, filepath.Join(dir, "k8s/.a.yaml.swp"), "editor junk")
	write(t, filepath.Join(dir, "k8s/.git/HEAD"), "ref: x")
	if after := keyOf(c, func(k *Key) { k.Manifests("m", dir, []string{"k8s"}) }); after.Sum() != before.Sum() {
		t.Fatal("hidden files changed the key")
	}
}

func TestKustomizationInputsOutsideTheTreeAreCovered(t *testing.T) {
	c := New(t.TempDir(), Options{})
	dir := t.TempDir()
	write(t, filepath.Join(dir, "base/deploy.yaml"), "kind: Deployment\n")
	write(t, filepath.Join(dir, "base/kustomization.yaml"), "resources: [deploy.yaml]\n")
	write(t, filepath.Join(dir, "config/app.env"), "A=1\n")
	write(t, filepath.Join(dir, "overlay/.secret.env"), "B=1\n")
	write(t, filepath.Join(dir, "overlay/kustomization.yaml"), `resources: [../base]
configMapGenerator:
- name: app
  envs: [../config/app.env]
secretGenerator:
- name: s
  files: [key=.secret.env]
`)
	key := func() *Key { return keyOf(c, func(k *Key) { k.Manifests("m", dir, []string{"overlay"}) }) }
	base := key()
	if !base.Cacheable() {
		t.Fatal(base.Reason())
	}
	for _, f := range []string{"base/deploy.yaml", "config/app.env", "overlay/.secret.env"} {
		before := key()
		write(t, filepath.Join(dir, f), "changed\n")
		if key().Sum() == before.Sum() {
			t.Errorf("changing %s (read by the kustomization) did not change the key", f)
		}
	}
	write(t, filepath.Join(dir, "remote/kustomization.yaml"), "resources:\n- https://github.com/example/app//deploy?ref=v1\n")
	if k := keyOf(c, func(k *Key) { k.Manifests("m", dir, []string{"remote"}) }); k.Cacheable() {
		t.Error("a kustomization with a remote resource is cacheable")
	}
}

// TestToolBuildChangesTheKey builds two tools that pass the pin check (module path and version
// of the pinned kubeconform) but differ in their build, and checks the key tells them apart.
func TestToolBuildChangesTheKey(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the Go toolchain")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	pin := tools.MustGet("kubeconform")
	src := t.TempDir()
	write(t, filepath.Join(src, "go.mod"), "module "+pin.Module+"\n\ngo 1.24\n")
	write(t, filepath.Join(src, "main.go"), "package main\n\nvar flavour string\n\nfunc main() { println(flavour) }\n")
	run := func(dir string, env []string, args ...string) {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	gitEnv := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	run(src, gitEnv, "git", "init", "-q")
	run(src, gitEnv, "git", "add", ".")
	run(src, gitEnv, "git", "commit", "-qm", "fake")
	run(src, gitEnv, "git", "tag", pin.Version)
	c := New(t.TempDir(), Options{})
	var sums []string
	for _, flavour := range []string{"a", "b"} {
		in := &tools.Installer{CacheDir: t.TempDir()}
		out := in.Path(pin)
		run(src, []string{"GOFLAGS=-buildvcs=true", "CGO_ENABLED=0", "GOWORK=off"}, "go", "build", "-ldflags=-X=main.flavour="+flavour, "-o", out, ".")
		if st := in.Check(pin); !st.Installed {
			t.Fatalf("fake tool does not pass the pin check: %+v", st)
		}
		k := keyOf(c, func(k *Key) { k.Tool(in, "kubeconform") })
		if !k.Cacheable() {
			t.Fatal(k.Reason())
		}
		sums = append(sums, k.Sum())
	}
	if sums[0] == sums[1] {
		t.Fatal("two different builds of the tool give the same key")
	}
	missing := keyOf(c, func(k *Key) { k.Tool(&tools.Installer{CacheDir: t.TempDir()}, "kubeconform") })
	if missing.Cacheable() || !missing.IsPending() {
		t.Fatalf("a tool that is not installed: cacheable=%v pending=%v", missing.Cacheable(), missing.IsPending())
	}
}

// TestConcurrentKeysOfOneBigFile keys one big file from several goroutines at once (sbom and scan
// key the same image together): one digest for all, the same as a lone key's.
func TestConcurrentKeysOfOneBigFile(t *testing.T) {
	c := New(t.TempDir(), Options{})
	dir := t.TempDir()
	p := filepath.Join(dir, "image.tar")
	write(t, p, strings.Repeat("x", memoMinSize*2))
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	want := keyOf(New(t.TempDir(), Options{}), func(k *Key) { k.File("image", p) }).Sum()
	sums := make(chan string, 8)
	for range 8 {
		go func() { sums <- keyOf(c, func(k *Key) { k.File("image", p) }).Sum() }()
	}
	for range 8 {
		if got := <-sums; got != want {
			t.Fatalf("concurrent key %s, want %s", got, want)
		}
	}
}
