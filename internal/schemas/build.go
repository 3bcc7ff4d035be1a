package schemas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// Module is the Go module whose api/openapi-spec/swagger.json is the source of the schemas.
const Module = "k8s.io/kubernetes"

// Options configure Build.
type Options struct {
	// K8sVersion selects the spec, e.g. "1.36.0" (a leading v is accepted).
	K8sVersion string
	// CacheDir is Tollgate's cache root (tools.DefaultCacheDir()); schemas go in CacheDir/schemas/VERSION.
	CacheDir string
	// Swagger, when set, is a swagger.json to convert instead of the one in the k8s.io/kubernetes
	// module (for air-gapped machines that carry the file).
	Swagger string
	// Progress receives human-readable progress lines; nil discards them.
	Progress func(string)
}

var versionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// ValidVersion reports whether v (with or without a leading v) is a MAJOR.MINOR.PATCH version.
func ValidVersion(v string) bool { return versionRe.MatchString(NormalizeVersion(v)) }

const (
	indexFile      = "index.json"
	objectMetaFile = "objectmeta.json"
)

// Dir is where Build puts (or finds) the schemas of a Kubernetes version.
func Dir(cacheDir, k8sVersion string) string {
	return filepath.Join(cacheDir, "schemas", NormalizeVersion(k8sVersion))
}

// Build returns the directory holding kubeconform-layout schemas for opts.K8sVersion, both
// standalone-strict and standalone, generating them on first use from the OpenAPI spec in the
// k8s.io/kubernetes Go module (downloaded through the Go module proxy with `go mod download`).
// The directory appears atomically: it is written under a temp name and renamed.
func Build(ctx context.Context, opts Options) (string, error) {
	ver := NormalizeVersion(opts.K8sVersion)
	if !versionRe.MatchString(ver) {
		return "", fmt.Errorf("kubernetes version %q: want MAJOR.MINOR.PATCH, e.g. 1.36.0", opts.K8sVersion)
	}
	if opts.CacheDir == "" {
		return "", errors.New("build schemas: no cache dir")
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}
	dir := Dir(opts.CacheDir, ver)
	if ix, err := LoadIndex(dir); err == nil && ix.Generator == generatorVersion {
		return dir, nil
	}

	start := time.Now()
	swagger, src, err := readSwagger(ctx, opts.Swagger, ver, progress)
	if err != nil {
		return "", err
	}
	progress(fmt.Sprintf("converting %s to kubeconform schemas", src))
	g, err := fromSwagger(swagger, ver)
	if err != nil {
		return "", fmt.Errorf("build schemas for %s from %s: %w", ver, src, err)
	}
	for _, c := range g.index.Collisions {
		progress("warning: kubeconform file name collision: " + c)
	}
	if err := writeDir(dir, ver, g); err != nil {
		return "", fmt.Errorf("build schemas for %s: %w", ver, err)
	}
	progress(fmt.Sprintf("wrote %d schemas for Kubernetes %s in %s -> %s", len(g.strict), ver, time.Since(start).Round(time.Millisecond), dir))
	return dir, nil
}

func readSwagger(ctx context.Context, file, ver string, progress func(string)) ([]byte, string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("read OpenAPI spec: %w", err)
		}
		return b, file, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, "", fmt.Errorf("build schemas: the Go toolchain is needed to fetch %s@v%s from the Go module proxy (%w); "+
			"on an air-gapped machine copy a schema dir built with `tollgate schemas build` into the cache or set validate.schema-locations", Module, ver, err)
	}
	progress(fmt.Sprintf("fetching %s@v%s (go mod download) for its OpenAPI spec", Module, ver))
	tmp, err := os.MkdirTemp("", "tollgate-modfetch-*")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	// Run outside any module so the project's go.mod and go.sum are never touched.
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", Module+"@v"+ver)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Dir, Error string }
	_ = json.Unmarshal(stdout.Bytes(), &info)
	if info.Error != "" || runErr != nil || info.Dir == "" {
		msg := info.Error
		if msg == "" {
			msg = fmt.Sprintf("%v: %s", runErr, bytes.TrimSpace(stderr.Bytes()))
		}
		return nil, "", fmt.Errorf("build schemas: go mod download %s@v%s: %s", Module, ver, msg)
	}
	p := filepath.Join(info.Dir, "api", "openapi-spec", "swagger.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("build schemas: %s@v%s has no OpenAPI spec: %w", Module, ver, err)
	}
	return b, Module + "@v" + ver + "/api/openapi-spec/swagger.json", nil
}

func writeDir(dir, ver string, g *generated) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".build-"+ver+"-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for strict, files := range map[bool]map[string][]byte{true: g.strict, false: g.loose} {
		d := filepath.Join(tmp, VersionDir(ver, strict))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
				return err
			}
		}
	}
	ix, err := json.MarshalIndent(g.index, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, indexFile), ix, 0o644); err != nil {
		return err
	}
	om, err := json.Marshal(g.objectMeta)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, objectMetaFile), om, 0o644); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	// A dir from an older generator is moved aside first; rename never replaces a non-empty dir.
	if _, err := os.Stat(dir); err == nil {
		if ix, err := LoadIndex(dir); err == nil && ix.Generator == generatorVersion {
			return nil // another process built the same version meanwhile: theirs is as good
		}
		old := tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return err
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process built the same version meanwhile: theirs is as good as ours.
		if ix, statErr := LoadIndex(dir); statErr == nil && ix.Generator == generatorVersion {
			return nil
		}
		return err
	}
	return nil
}

// LoadIndex reads the index of a built schema dir.
func LoadIndex(dir string) (*Index, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexFile))
	if err != nil {
		return nil, err
	}
	var ix Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("schema index %s: %w", dir, err)
	}
	return &ix, nil
}

// LoadObjectMeta reads the ObjectMeta schema saved by Build, for CRD schemas.
func LoadObjectMeta(dir string, strict bool) (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(dir, objectMetaFile))
	if err != nil {
		return nil, err
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("object meta schema %s: %w", dir, err)
	}
	if strict {
		return m["strict"], nil
	}
	return m["loose"], nil
}
