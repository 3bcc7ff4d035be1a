package resultcache

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// testKey is a key over one value, like a stage's key over its inputs.
func testKey(c *Cache, v string) *Key {
	k := c.NewKey("test")
	k.String("input", v)
	return k
}

func sampleResult(t *testing.T, outDir string) *model.StageResult {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(outDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"raw.json": `{"raw":true}`, "sub/sbom.json": `{"sbom":1}`} {
		if err := os.WriteFile(filepath.Join(outDir, filepath.FromSlash(name)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &model.StageResult{
		Stage: "test", Tool: model.Tool{Name: "tool", Version: "v1"},
		Findings: []model.Finding{{RuleID: "R1", Severity: model.SeverityHigh, Message: "bad", Location: model.Location{File: "a.yaml", Line: 3}}},
		Artifacts: []model.Artifact{
			{Name: "raw", Path: filepath.Join(outDir, "raw.json"), Type: "application/json"},
			{Name: "sbom", Path: filepath.Join(outDir, "sub", "sbom.json")},
		},
		Summary: "raw summary",
	}
}

func TestPutGetRestoresArtifactsIntoTheNewOutDir(t *testing.T) {
	c := New(t.TempDir(), Options{})
	out1 := t.TempDir()
	r := sampleResult(t, out1)
	k := testKey(c, "a")
	if _, ok := c.Get(k, out1); ok {
		t.Fatal("hit in an empty cache")
	}
	if err := c.Put(k, r, out1); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(t.TempDir(), "reports")
	got, ok := c.Get(testKey(c, "a"), out2)
	if !ok {
		t.Fatal("miss after Put")
	}
	if !got.Cached || got.Status != "" || len(got.Findings) != 1 || got.Findings[0].Location.Line != 3 || got.Summary != "raw summary" {
		t.Fatalf("restored result differs: %+v", got)
	}
	for i, want := range []string{filepath.Join(out2, "raw.json"), filepath.Join(out2, "sub", "sbom.json")} {
		if got.Artifacts[i].Path != want {
			t.Errorf("artifact %d path %q, want %q", i, got.Artifacts[i].Path, want)
		}
		b, err := os.ReadFile(want)
		if err != nil {
			t.Fatalf("artifact not restored: %v", err)
		}
		orig, _ := os.ReadFile(r.Artifacts[i].Path)
		if string(b) != string(orig) {
			t.Errorf("artifact %d content %q, want %q", i, b, orig)
		}
	}
	if _, ok := c.Get(testKey(c, "b"), out2); ok {
		t.Fatal("another key hit")
	}
}

func TestNothingButCompleteResultsIsStored(t *testing.T) {
	c := New(t.TempDir(), Options{})
	for _, r := range []*model.StageResult{
		model.ErrorResult("test", model.Tool{}, &model.ToolError{Tool: "x", Err: os.ErrClosed}),
		model.ErrorResult("test", model.Tool{}, &model.InputError{File: "a", Err: os.ErrInvalid}),
		{Stage: "test", Status: model.StatusSkipped, Error: "nothing to check"},
	} {
		k := testKey(c, string(r.Status)+r.ErrorKind)
		if err := c.Put(k, r, ""); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Get(k, ""); ok {
			t.Errorf("%s/%s result was stored", r.Status, r.ErrorKind)
		}
	}
	// A result whose artifact lies outside the output dir cannot be restored: not stored.
	out := t.TempDir()
	r := sampleResult(t, out)
	k := testKey(c, "outside")
	if err := c.Put(k, r, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(k, out); ok {
		t.Error("result with artifacts outside --out was stored")
	}
	// A key that is not cacheable stores nothing.
	k = testKey(c, "not")
	k.NotCacheable("remote schema")
	if err := c.Put(k, &model.StageResult{Stage: "test"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(k, ""); ok {
		t.Error("not cacheable key hit")
	}
}

func TestDamagedEntriesAreMissesAndAreReplaced(t *testing.T) {
	damage := map[string]func(t *testing.T, dir string){
		"truncated entry": func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, entryFile))
			os.WriteFile(filepath.Join(dir, entryFile), b[:len(b)/2], 0o644)
		},
		"empty entry": func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, entryFile), nil, 0o644) },
		"result edited": func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, entryFile))
			os.WriteFile(filepath.Join(dir, entryFile), []byte(strings.Replace(string(b), `"HIGH"`, `"LOW"`, 1)), 0o644)
		},
		"status forged": func(t *testing.T, dir string) {
			var e map[string]any
			b, _ := os.ReadFile(filepath.Join(dir, entryFile))
			json.Unmarshal(b, &e)
			e["result"].(map[string]any)["status"] = "error"
			b, _ = json.Marshal(e)
			os.WriteFile(filepath.Join(dir, entryFile), b, 0o644)
		},
		"artifact edited": func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, filesDir, "raw.json"), []byte(`{"raw":false}`), 0o644)
		},
		"artifact missing": func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, filesDir, "sub", "sbom.json")) },
		"entry missing":    func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, entryFile)) },
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			c := New(t.TempDir(), Options{})
			out := t.TempDir()
			k := testKey(c, name)
			if err := c.Put(k, sampleResult(t, out), out); err != nil {
				t.Fatal(err)
			}
			fn(t, c.entryPath(k.Sum()))
			if r, ok := c.Get(k, t.TempDir()); ok {
				t.Fatalf("damaged entry served: %+v", r)
			}
			// The next run stores a good entry again.
			if err := c.Put(k, sampleResult(t, out), out); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Get(k, t.TempDir()); !ok {
				t.Fatal("no hit after the damaged entry was replaced")
			}
		})
	}
}

func TestRefreshRerunsButStores(t *testing.T) {
	dir := t.TempDir()
	c := New(dir, Options{})
	k := testKey(c, "a")
	if err := c.Put(k, &model.StageResult{Stage: "test", Summary: "old"}, ""); err != nil {
		t.Fatal(err)
	}
	fresh := New(dir, Options{Refresh: true})
	if _, ok := fresh.Get(k, ""); ok {
		t.Fatal("--no-cache read the cache")
	}
	if err := fresh.Put(k, &model.StageResult{Stage: "test", Summary: "new"}, ""); err != nil {
		t.Fatal(err)
	}
	got, ok := c.Get(k, "")
	if !ok || got.Summary != "new" {
		t.Fatalf("fresh result did not replace the old one: %+v %v", got, ok)
	}
}

func TestPruneEvictsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	c := New(dir, Options{MaxSize: -1, Now: now})
	big := strings.Repeat("x", 10_000)
	keys := map[string]*Key{}
	for _, name := range []string{"a", "b", "c"} {
		clock = clock.Add(time.Minute)
		keys[name] = testKey(c, name)
		r := &model.StageResult{Stage: "test", Summary: big}
		if err := c.Put(keys[name], r, ""); err != nil {
			t.Fatal(err)
		}
		e := c.entryPath(keys[name].Sum())
		os.Chtimes(filepath.Join(e, entryFile), clock, clock)
	}
	clock = clock.Add(time.Minute)
	if _, ok := c.Get(keys["a"], ""); !ok { // a is now the most recently used
		t.Fatal("miss")
	}
	st, err := c.Prune(25_000)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 3 || st.Removed != 1 {
		t.Fatalf("prune stats %+v, want 3 entries and 1 removed", st)
	}
	for name, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if _, ok := c.Get(keys[name], ""); ok != want {
			t.Errorf("entry %s present=%v, want %v", name, ok, want)
		}
	}
	// The size cap applies on every Put.
	capped := New(dir, Options{MaxSize: 15_000, Now: now})
	clock = clock.Add(time.Minute)
	if err := capped.Put(testKey(c, "d"), &model.StageResult{Stage: "test", Summary: big}, ""); err != nil {
		t.Fatal(err)
	}
	st, _ = capped.Prune(-1)
	if st.Entries != 1 {
		t.Fatalf("%d entries left under a cap of one entry, want 1", st.Entries)
	}
	if _, ok := c.Get(testKey(c, "d"), ""); !ok {
		t.Error("the newest entry was evicted")
	}
	if st, _ := c.Prune(0); st.Removed != 1 {
		t.Errorf("prune --all removed %d", st.Removed)
	}
}
