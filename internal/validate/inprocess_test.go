package validate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// The kubeconform linked into Tollgate is the pinned one: results report the pin's version, the
// Dagger module runs the pin's image, and the benchmark compares with the pin's binary.
func TestLinkedKubeconformIsThePin(t *testing.T) {
	// A test binary carries no module list in its build info: read go.mod itself.
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	pin := tools.MustGet(toolName)
	for _, r := range f.Replace {
		if r.Old.Path == pin.Module {
			t.Fatalf("go.mod replaces %s", pin.Module)
		}
	}
	for _, r := range f.Require {
		if r.Mod.Path == pin.Module {
			if r.Mod.Version != pin.Version {
				t.Fatalf("go.mod requires %s %s, the pin table says %s: keep them equal", r.Mod.Path, r.Mod.Version, pin.Version)
			}
			return
		}
	}
	t.Fatalf("go.mod does not require %s", pin.Module)
}

// The queue hands out every document exactly once, whatever the mix of kinds and workers, and
// never a document of a kind whose schema another worker is still compiling.
func TestQueue(t *testing.T) {
	kinds := []string{"Deployment", "Service", "ConfigMap"}
	for _, tc := range []struct {
		name    string
		docs    int
		workers int
	}{{"one kind one worker", 1, 1}, {"one doc many workers", 1, 4}, {"mixed", 300, 2}, {"mixed many workers", 301, 8}, {"nothing", 0, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Plan{texts: map[int][]byte{}}
			for i := range tc.docs {
				p.Docs = append(p.Docs, manifest.Document{APIVersion: "v1", Kind: kinds[i*7%len(kinds)]})
				if i%10 != 9 { // some documents are not handed over (e.g. name collisions)
					p.texts[i] = []byte("x")
				}
			}
			q := newQueue(p)
			var mu sync.Mutex
			seen := map[int]int{}
			state := map[string]int{} // kind -> cold/compiling/warm as the workers see it
			var wg sync.WaitGroup
			for range tc.workers {
				wg.Go(func() {
					for {
						i, done, ok := q.take()
						if !ok {
							q.stop()
							return
						}
						k := p.Docs[i].Kind
						mu.Lock()
						seen[i]++
						switch state[k] {
						case cold:
							state[k] = compiling
						case compiling:
							t.Errorf("document %d of %s handed out while its schema compiles", i, k)
						}
						mu.Unlock()
						mu.Lock()
						if state[k] == compiling {
							state[k] = warm
						}
						mu.Unlock()
						done()
					}
				})
			}
			wg.Wait()
			for i := range p.Docs {
				want := 1
				if _, handed := p.texts[i]; !handed {
					want = 0
				}
				if seen[i] != want {
					t.Errorf("document %d handed out %d times, want %d", i, seen[i], want)
				}
			}
		})
	}
}

// A cancelled run stops and says so; it never passes.
func TestInProcessCancelled(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 50 {
		b.WriteString("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c" + strings.Repeat("x", i) + "}\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := manifest.Load(context.Background(), []string{"c.yaml"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := Validate(ctx, docs, nil, builtinSchemas(t), defaultOptions()); err == nil {
		t.Fatalf("a cancelled validation returned %d findings and no error", len(res.Findings))
	}
}
