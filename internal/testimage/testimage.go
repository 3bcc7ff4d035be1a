// Package testimage builds fixture container images in code with go-containerregistry: an
// Alpine 3.19-like image whose OS packages, Go binary and installed npm packages carry known
// CVEs (matching fixtures/advisories), and a clean image. Tests of the scan and sbom stages and
// the demo use them; nothing here touches the network.
package testimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Vuln is a CVE planted in the vulnerable image, as trivy should report it with the fixture DB.
type Vuln struct {
	ID        string
	Package   string
	Installed string
	Fixed     string
	Severity  string
	Class     string // os-pkgs or lang-pkgs
	Type      string // alpine, gobinary, node-pkg
}

// Planted lists every finding the vulnerable image must produce with the fixture DB.
func Planted() []Vuln {
	return []Vuln{
		{"CVE-2024-5535", "libcrypto3", "3.1.4-r0", "3.1.6-r0", "CRITICAL", "os-pkgs", "alpine"},
		{"CVE-2024-5535", "libssl3", "3.1.4-r0", "3.1.6-r0", "CRITICAL", "os-pkgs", "alpine"},
		{"CVE-2024-0727", "libcrypto3", "3.1.4-r0", "3.1.4-r5", "MEDIUM", "os-pkgs", "alpine"},
		{"CVE-2024-0727", "libssl3", "3.1.4-r0", "3.1.4-r5", "MEDIUM", "os-pkgs", "alpine"},
		{"CVE-2023-5678", "libcrypto3", "3.1.4-r0", "3.1.4-r1", "MEDIUM", "os-pkgs", "alpine"},
		{"CVE-2023-5678", "libssl3", "3.1.4-r0", "3.1.4-r1", "MEDIUM", "os-pkgs", "alpine"},
		{"CVE-2020-27813", GoModule, "v" + GoModuleVersion, "1.4.1", "HIGH", "lang-pkgs", "gobinary"},
		{"CVE-2021-23337", "lodash", "4.17.15", "4.17.21", "HIGH", "lang-pkgs", "node-pkg"},
		{"CVE-2020-8203", "lodash", "4.17.15", "4.17.19", "HIGH", "lang-pkgs", "node-pkg"},
	}
}

// NotReported are CVEs in the fixture DB that the vulnerable image must NOT produce, and why.
func NotReported() map[string]string {
	return map[string]string{
		"CVE-2023-2650":  "openssl fixed in 3.1.1-r0, before the installed 3.1.4-r0",
		"CVE-2022-48174": "busybox fixed in 1.36.1-r1, before the installed 1.36.1-r15",
		"CVE-2021-44906": "minimist 1.2.5 is only in package-lock.json, which trivy image does not read",
	}
}

// Paths inside the vulnerable image.
const (
	GoBinaryPath   = "usr/local/bin/app"
	AppDir         = "usr/src/app"
	AlpineVersion  = "3.19.1"
	fixtureCreated = "2024-01-01T00:00:00Z"
)

type apkPkg struct{ name, version, origin, desc, license string }

var (
	busybox    = apkPkg{"busybox", "1.36.1-r15", "busybox", "Size optimized toolbox of many common UNIX utilities", "GPL-2.0-only"}
	musl       = apkPkg{"musl", "1.2.4_git20230717-r4", "musl", "the musl c library (libc) implementation", "MIT"}
	libcrypto3 = apkPkg{"libcrypto3", "3.1.4-r0", "openssl", "Crypto library from openssl", "Apache-2.0"}
	libssl3    = apkPkg{"libssl3", "3.1.4-r0", "openssl", "SSL shared libraries", "Apache-2.0"}
)

// Vulnerable returns the image with planted CVEs: Alpine packages (libcrypto3/libssl3 from the
// openssl source package), goBinary at /usr/local/bin/app (see GoBinary), node_modules/lodash
// installed, and a package-lock.json naming a vulnerable minimist that is not installed.
func Vulnerable(goBinary []byte) (v1.Image, error) {
	if len(goBinary) == 0 {
		return nil, fmt.Errorf("vulnerable image: empty Go binary")
	}
	osLayer, err := layer(alpineFiles(busybox, musl, libcrypto3, libssl3))
	if err != nil {
		return nil, err
	}
	binLayer, err := layer([]file{{path: GoBinaryPath, mode: 0o755, data: goBinary}})
	if err != nil {
		return nil, err
	}
	nodeLayer, err := layer(nodeFiles())
	if err != nil {
		return nil, err
	}
	return assemble([]string{"/usr/local/bin/app"}, osLayer, binLayer, nodeLayer)
}

// Clean returns an Alpine-like image whose only advisory (busybox) was fixed before the installed
// version: a scan finds the OS and its packages but no vulnerability.
func Clean() (v1.Image, error) {
	osLayer, err := layer(alpineFiles(busybox, musl))
	if err != nil {
		return nil, err
	}
	return assemble([]string{"/bin/sh"}, osLayer)
}

func assemble(cmd []string, layers ...v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, fmt.Errorf("fixture image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("fixture image: %w", err)
	}
	cf = cf.DeepCopy()
	created, _ := time.Parse(time.RFC3339, fixtureCreated)
	cf.Created = v1.Time{Time: created}
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = cmd
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.WorkingDir = "/" + AppDir
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("fixture image: %w", err)
	}
	return img, nil
}

type file struct {
	path string
	mode int64
	data []byte
}

func alpineFiles(pkgs ...apkPkg) []file {
	osRelease := `NAME="Alpine Linux"
ID=alpine
VERSION_ID=` + AlpineVersion + `
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
`
	var db strings.Builder
	for _, p := range pkgs {
		// The fields trivy and syft read from apk's installed database (P name, V version,
		// A arch, o origin = source package, L license, T description).
		fmt.Fprintf(&db, "C:Q1%s=\nP:%s\nV:%s\nA:x86_64\nS:100000\nI:300000\nT:%s\nU:https://example.invalid/%s\nL:%s\no:%s\nt:1700000000\nD:so:libc.musl-x86_64.so.1\n\n",
			strings.Repeat("A", 27), p.name, p.version, p.desc, p.origin, p.license, p.origin)
	}
	return []file{
		{path: "etc/alpine-release", mode: 0o644, data: []byte(AlpineVersion + "\n")},
		{path: "etc/os-release", mode: 0o644, data: []byte(osRelease)},
		{path: "lib/apk/db/installed", mode: 0o644, data: []byte(db.String())},
	}
}

// LodashVersion is the installed (vulnerable) lodash; MinimistLockVersion appears only in the
// lock file.
const (
	LodashVersion       = "4.17.15"
	MinimistLockVersion = "1.2.5"
)

func nodeFiles() []file {
	pkg := `{"name": "fixture-app", "version": "1.0.0", "dependencies": {"lodash": "^4.17.15", "minimist": "^1.2.5"}}`
	lock := `{
  "name": "fixture-app",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {"name": "fixture-app", "version": "1.0.0", "dependencies": {"lodash": "^4.17.15", "minimist": "^1.2.5"}},
    "node_modules/lodash": {"version": "` + LodashVersion + `", "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.15.tgz", "license": "MIT"},
    "node_modules/minimist": {"version": "` + MinimistLockVersion + `", "resolved": "https://registry.npmjs.org/minimist/-/minimist-1.2.5.tgz", "license": "MIT"}
  }
}`
	lodash := `{"name": "lodash", "version": "` + LodashVersion + `", "license": "MIT", "main": "lodash.js"}`
	return []file{
		{path: AppDir + "/package.json", mode: 0o644, data: []byte(pkg)},
		{path: AppDir + "/package-lock.json", mode: 0o644, data: []byte(lock)},
		{path: AppDir + "/node_modules/lodash/package.json", mode: 0o644, data: []byte(lodash)},
		{path: AppDir + "/node_modules/lodash/lodash.js", mode: 0o644, data: []byte("module.exports = {};\n")},
	}
}

// layer makes a deterministic layer (sorted entries, fixed times) with parent directories.
func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	dirs := map[string]bool{}
	for _, f := range files {
		parts := strings.Split(f.path, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime}); err != nil {
				return nil, fmt.Errorf("fixture layer: %w", err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime}); err != nil {
			return nil, fmt.Errorf("fixture layer: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("fixture layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("fixture layer: %w", err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("fixture layer: %w", err)
	}
	return l, nil
}
