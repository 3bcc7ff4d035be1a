package score

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// TestDecodeOutputMatchesEncodingJSON checks that decodeOutput reads kube-score's real output,
// and hand-made output with escapes and nulls, exactly as encoding/json does: the decoder swap
// must not change a finding.
func TestDecodeOutputMatchesEncodingJSON(t *testing.T) {
	bin := kubeScore(t)
	root := filepath.Join("..", "..", "fixtures")
	sets, err := filepath.Glob(filepath.Join(root, "score", "*"))
	if err != nil || len(sets) == 0 {
		t.Fatalf("no fixture sets: %v", err)
	}
	sets = append(sets, filepath.Join(root, "demo", "k8s"), filepath.Join(root, "manifests", "good"))
	for _, set := range sets {
		t.Run(filepath.Base(set), func(t *testing.T) {
			var files []string
			err := filepath.WalkDir(set, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
					files = append(files, p)
				}
				return err
			})
			if err != nil || len(files) == 0 {
				t.Fatalf("no manifests in %s: %v", set, err)
			}
			args, err := Args(OptionsFrom(config.Default()), files)
			if err != nil {
				t.Fatal(err)
			}
			res, err := tools.Run(context.Background(), toolName, tools.Cmd{Path: bin, Args: args})
			if err != nil || res.ExitCode > 1 {
				t.Fatalf("kube-score: exit %d, %v: %s", res.ExitCode, err, res.Stderr)
			}
			if got := sameDecode(t, res.Stdout); got == 0 {
				t.Fatalf("kube-score reported no objects: %s", res.Stderr)
			}
		})
	}
	for name, out := range map[string]string{
		"empty":   `[]`,
		"null":    "null\n",
		"escapes": `[{"object_name":"Pod/v1//a\u003cb","file_name":"d\u00e9j\u00e0 \"vu\".yaml","file_row":3,"checks":[{"check":{"id":"x","comment":"a\\b\n\u2028\ud83d\ude00"},"grade":1,"skipped":false,"comments":null}]}]`,
		"extra":   `[{"object_name":"o","unknown":{"a":[1,2,{"b":null}]},"checks":[{"check":{"id":"x"},"grade":10,"comments":[{"path":"p","summary":"s","description":"d"}]}]}]`,
	} {
		t.Run(name, func(t *testing.T) { sameDecode(t, []byte(out)) })
	}
}

// sameDecode decodes out both ways, fails the test when they differ and returns the object count.
func sameDecode(t *testing.T, out []byte) int {
	t.Helper()
	got, err := decodeOutput(out)
	if err != nil {
		t.Fatalf("decodeOutput: %v", err)
	}
	var want []scoredObject
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeOutput read\n%+v\nencoding/json read\n%+v", got, want)
	}
	return len(got)
}

// TestDecodeOutputRefuses covers what decodeOutput refuses beyond encoding/json: output that is
// not one clean JSON array of kube-score objects fails closed.
func TestDecodeOutputRefuses(t *testing.T) {
	for name, out := range map[string]string{
		"invalid UTF-8":   "[{\"object_name\":\"\xff\"}]",
		"duplicate names": `[{"object_name":"a","object_name":"b"}]`,
		"trailing data":   `[] []`,
		"not an array":    `{"object_name":"a"}`,
		"truncated":       `[{"object_name":"a"`,
		"empty":           ``,
	} {
		t.Run(name, func(t *testing.T) {
			if objs, err := decodeOutput([]byte(out)); err == nil || !strings.Contains(err.Error(), "read kube-score JSON output") {
				t.Fatalf("decodeOutput(%q) = %+v, %v; want an error", out, objs, err)
			}
		})
	}
}
