package sbom

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// syftPath is the pinned syft from the tool cache, where TestMain installed it.
func syftPath(t *testing.T) string {
	t.Helper()
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir()}
	p, err := in.Ensure(context.Background(), "syft")
	if err != nil {
		t.Fatalf("syft missing after TestMain installed it: %v", err)
	}
	return p
}

func testEnv(t *testing.T, cfg *config.Config, args []string) *stage.Env {
	t.Helper()
	return &stage.Env{Root: t.TempDir(), Config: cfg, Args: args, Now: time.Now, Shared: &stage.Shared{},
		Tools: &tools.Installer{CacheDir: tools.DefaultCacheDir()}}
}

var fixture struct {
	once sync.Once
	img  v1.Image
	err  error
}

// vulnerableImage is the shared fixture: Alpine packages, a Go binary and node_modules.
func vulnerableImage(t *testing.T) v1.Image {
	t.Helper()
	fixture.once.Do(func() {
		dir, err := os.MkdirTemp("", "sbom-fixture-*")
		if err != nil {
			fixture.err = err
			return
		}
		defer os.RemoveAll(dir)
		bin, err := testimage.GoBinary(context.Background(), dir)
		if err != nil {
			fixture.err = err
			return
		}
		fixture.img, fixture.err = testimage.Vulnerable(bin)
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.img
}

// Packages syft must find in the fixture image, by purl prefix.
var wantPURLs = []string{
	"pkg:apk/alpine/libcrypto3@3.1.4-r0",
	"pkg:apk/alpine/musl@",
	"pkg:npm/lodash@" + testimage.LodashVersion,
	"pkg:golang/" + testimage.GoModule + "@v" + testimage.GoModuleVersion,
}

// validateCycloneDX decodes with the CycloneDX library and returns the purls.
func validateCycloneDX(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(f, cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("%s: CycloneDX decode: %v", path, err)
	}
	if bom.BOMFormat != cdx.BOMFormat || bom.SpecVersion != cdx.SpecVersion1_6 {
		t.Fatalf("%s: bomFormat %q specVersion %v, want CycloneDX 1.6", path, bom.BOMFormat, bom.SpecVersion)
	}
	if bom.Components == nil || len(*bom.Components) == 0 {
		t.Fatalf("%s: no components", path)
	}
	var purls []string
	for _, c := range *bom.Components {
		if c.PackageURL != "" {
			purls = append(purls, c.PackageURL)
		}
	}
	return purls
}

// validateSPDX reads with the SPDX library into the 2.3 model and returns the purls.
func validateSPDX(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc v2_3.Document
	if err := spdxjson.ReadInto(f, &doc); err != nil {
		t.Fatalf("%s: SPDX read: %v", path, err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) == 0 {
		t.Fatalf("%s: version %q with %d packages", path, doc.SPDXVersion, len(doc.Packages))
	}
	var purls []string
	for _, p := range doc.Packages {
		for _, r := range p.PackageExternalReferences {
			if r.RefType == "purl" {
				purls = append(purls, r.Locator)
			}
		}
	}
	return purls
}

func assertPURLs(t *testing.T, what string, purls []string) {
	t.Helper()
	for _, w := range wantPURLs {
		found := false
		for _, p := range purls {
			if strings.HasPrefix(p, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: no package %s* among %d purls: %v", what, w, len(purls), purls)
		}
	}
}

func TestGenerateEveryInputKind(t *testing.T) {
	syft := syftPath(t)
	img := vulnerableImage(t)
	dir := t.TempDir()
	docker := filepath.Join(dir, "app.tar")
	ociTar := filepath.Join(dir, "app-oci.tar")
	ociDir := filepath.Join(dir, "app-layout")
	if err := testimage.WriteDockerArchive(img, "tollgate/fixture:1", docker); err != nil {
		t.Fatal(err)
	}
	if err := testimage.WriteOCIArchive(img, ociTar); err != nil {
		t.Fatal(err)
	}
	if err := testimage.WriteOCILayout(img, ociDir); err != nil {
		t.Fatal(err)
	}
	formats, _ := FormatsFor(config.Default().SBOM.Formats)
	for _, tc := range []struct{ kind, input string }{
		{image.KindDockerArchive, docker}, {image.KindOCIArchive, ociTar}, {image.KindOCILayout, ociDir},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			src, err := image.Open(context.Background(), tc.input, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if src.Kind != tc.kind {
				t.Fatalf("kind %s, want %s", src.Kind, tc.kind)
			}
			out := filepath.Join(t.TempDir(), "reports")
			scratch := t.TempDir()
			res, err := Generate(context.Background(), Request{Syft: syft, Source: src, Formats: formats, OutDir: out, WorkDir: scratch})
			if err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(scratch); len(ents) != 0 {
				t.Errorf("syft scratch left behind: %d entries", len(ents))
			}
			if len(res.Findings) != 0 || len(res.Artifacts) != 2 {
				t.Fatalf("findings %v artifacts %v", res.Findings, res.Artifacts)
			}
			spdxPath, cdxPath := filepath.Join(out, "sbom.spdx.json"), filepath.Join(out, "sbom.cdx.json")
			if res.Artifacts[0].Path != spdxPath || res.Artifacts[1].Path != cdxPath {
				t.Errorf("artifacts %+v", res.Artifacts)
			}
			assertPURLs(t, "SPDX", validateSPDX(t, spdxPath))
			assertPURLs(t, "CycloneDX", validateCycloneDX(t, cdxPath))
			// Only the two SBOMs are left: no temp files.
			ents, _ := os.ReadDir(out)
			if len(ents) != 2 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("reports dir holds %v", names)
			}
			// The SBOM names the image as the user gave it, not a temp path.
			b, _ := os.ReadFile(spdxPath)
			if !bytes.Contains(b, []byte(filepath.Base(tc.input))) {
				t.Errorf("SPDX does not name %s", filepath.Base(tc.input))
			}
		})
	}
}

func TestGenerateFromRegistry(t *testing.T) {
	syft := syftPath(t)
	// A private registry on 127.0.0.1: credentials reach syft only through its environment.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(image.EnvRegistryUsername, "ci")
	t.Setenv(image.EnvRegistryPassword, "s3cret")
	host, stop := testimage.Registry("ci", "s3cret")
	defer stop()
	ref, _ := name.ParseReference(host + "/team/app:v1")
	if err := remote.Write(ref, vulnerableImage(t), remote.WithAuth(&authn.Basic{Username: "ci", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	src, err := image.Open(context.Background(), ref.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	formats, _ := FormatsFor([]string{"cyclonedx-json"})
	out := t.TempDir()
	if _, err := Generate(context.Background(), Request{Syft: syft, Source: src, Formats: formats, OutDir: out,
		Creds: image.CredentialsFromEnv()}); err != nil {
		t.Fatal(err)
	}
	// Without the credentials syft is refused: a tool error, and nothing written.
	out2 := t.TempDir()
	_, err = Generate(context.Background(), Request{Syft: syft, Source: src, Formats: formats, OutDir: out2})
	var te *model.ToolError
	if !errors.As(err, &te) {
		t.Fatalf("syft without credentials: want ToolError, got %v", err)
	}
	assertPURLs(t, "CycloneDX from registry", validateCycloneDX(t, filepath.Join(out, "sbom.cdx.json")))
	if _, err := os.Stat(filepath.Join(out, "sbom.spdx.json")); err == nil {
		t.Error("SPDX written although only CycloneDX was asked for")
	}
}

func TestGenerateSyftFailureIsToolError(t *testing.T) {
	syft := syftPath(t)
	// A source that bypassed validation: syft itself fails on it, and that fails closed.
	bad := filepath.Join(t.TempDir(), "not-an-image.tar")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	src := &image.Source{Input: bad, Kind: image.KindDockerArchive, Path: bad}
	formats, _ := FormatsFor(config.Default().SBOM.Formats)
	out := t.TempDir()
	_, err := Generate(context.Background(), Request{Syft: syft, Source: src, Formats: formats, OutDir: out})
	var te *model.ToolError
	if !errors.As(err, &te) || te.Tool != "syft" {
		t.Fatalf("want syft ToolError, got %T %v", err, err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("a failed run left %d files in the reports dir", len(ents))
	}
}

// A registry that refuses connections: syft's reason reaches the message (issue 8.4: with
// --quiet the summary read "exit 1 describing ...: " and nothing else).
func TestGenerateSyftFailureSaysWhy(t *testing.T) {
	syft := syftPath(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	src := &image.Source{Input: host + "/team/app:1", Kind: image.KindRegistry,
		Ref: host + "/team/app@sha256:" + strings.Repeat("a", 64)}
	formats, _ := FormatsFor([]string{"spdx-json"})
	_, err = Generate(context.Background(), Request{Syft: syft, Source: src, Formats: formats, OutDir: t.TempDir(), Timeout: time.Minute})
	var te *model.ToolError
	if !errors.As(err, &te) || te.Tool != "syft" {
		t.Fatalf("want syft ToolError, got %T %v", err, err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("the cause is missing from the message: %v", err)
	}
}

// A relative --out (issue 8.10): syft runs in the temp dir, so the output paths must be absolute.
func TestGenerateRelativeOutDir(t *testing.T) {
	syft := syftPath(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "app.tar")
	if err := testimage.WriteDockerArchive(vulnerableImage(t), "tollgate/fixture:1", p); err != nil {
		t.Fatal(err)
	}
	src, err := image.Open(context.Background(), p, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	formats, _ := FormatsFor(config.Default().SBOM.Formats)
	res, err := Generate(context.Background(), Request{Syft: syft, Source: src, Formats: formats, OutDir: filepath.Join("native", "sbom-ref")})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"sbom.spdx.json", "sbom.cdx.json"} {
		want := filepath.Join(dir, "native", "sbom-ref", name)
		if res.Artifacts[i].Path != want {
			t.Errorf("artifact %d at %s, want %s", i, res.Artifacts[i].Path, want)
		}
		if _, err := os.Stat(want); err != nil {
			t.Error(err)
		}
	}
	validateSPDX(t, filepath.Join(dir, "native", "sbom-ref", "sbom.spdx.json"))
}

func TestStageWritesArtifactsAndShares(t *testing.T) {
	syftPath(t)
	img := vulnerableImage(t)
	cfg := config.Default()
	env := testEnv(t, cfg, nil)
	if err := testimage.WriteOCIArchive(img, filepath.Join(env.Root, "app-oci.tar")); err != nil {
		t.Fatal(err)
	}
	cfg.Scan.Image = "app-oci.tar" // relative to the project root, sbom.image unset
	env.OutDir = filepath.Join(t.TempDir(), "reports")
	env.WorkDir = t.TempDir()
	var msgs []string
	env.Progress = func(_, m string) { msgs = append(msgs, m) }
	res, err := Stage().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Artifacts) != 2 || len(res.Findings) != 0 {
		t.Fatalf("got %+v", res)
	}
	for _, a := range res.Artifacts {
		if _, err := os.Stat(a.Path); err != nil || filepath.Dir(a.Path) != env.OutDir {
			t.Errorf("artifact %s: %v", a.Path, err)
		}
	}
	// The SBOM names the image as configured, not by the absolute path it was opened from.
	b, err := os.ReadFile(res.Artifacts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"name": "app-oci.tar"`)) && !bytes.Contains(b, []byte(`"name":"app-oci.tar"`)) {
		t.Errorf("SPDX document is not named app-oci.tar")
	}
	if bytes.Contains(b, []byte(env.Root)) || bytes.Contains(b, []byte(env.WorkDir)) {
		t.Errorf("SPDX document mentions a local path")
	}
	v, ok := env.Shared.Get(image.SharedKey)
	if !ok || v.(*image.Source).Kind != image.KindOCIArchive {
		t.Errorf("normalised source not shared: %v", v)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "extracted OCI archive") {
		t.Errorf("progress did not say the archive was extracted: %q", msgs)
	}
}

func TestGenerateImageWithoutPackages(t *testing.T) {
	syft := syftPath(t)
	img, err := random.Image(2048, 1) // random files only: nothing syft recognises
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "scratch.tar")
	if err := testimage.WriteDockerArchive(img, "tollgate/scratch:1", p); err != nil {
		t.Fatal(err)
	}
	src, err := image.Open(context.Background(), p, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	formats, _ := FormatsFor(config.Default().SBOM.Formats)
	res, err := Generate(context.Background(), Request{Syft: syft, Source: src, Formats: formats, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Findings[0].RuleID != RuleEmpty || res.Findings[0].Severity != model.SeverityInfo {
		t.Fatalf("findings = %+v", res.Findings)
	}
	// Both files are still valid SBOMs of their spec.
	validateSPDX(t, res.Artifacts[0].Path)
}
