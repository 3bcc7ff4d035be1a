package main

import (
	"path"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/dagger"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Layout of the tollgate image: the CLI on the PATH, and the pinned scanners where the tool
// installer looks for them (TOLLGATE_CACHE_DIR/tools/NAME/VERSION/NAME), so `--no-install`
// finds them and nothing is built at run time.
const (
	serveBinary   = "/usr/local/bin/tollgate"
	serveCacheDir = "/opt/tollgate"
	serveUser     = "65532:65532"
	servePort     = 8080
)

// The image's only users: root owns the files, nonroot runs the service.
const (
	servePasswd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	serveGroup  = "root:x:0:\nnonroot:x:65532:\n"
)

// serveTools are the pinned tools `tollgate serve` runs.
var serveTools = []string{"syft", "trivy"}

// serveBuildEnv is the environment of the Go builds inside tools.GoImage: static binaries, so
// they run on the empty base, and reproducible paths.
func serveBuildEnv() map[string]string {
	return map[string]string{"CGO_ENABLED": "0", "GOFLAGS": "-trimpath", "GOTOOLCHAIN": "local"}
}

// serveToolInstall is the `go install` of one pinned tool into its place in the image.
func serveToolInstall(t tools.Tool) (gobin string, args []string, env []string) {
	gobin = path.Join(serveCacheDir, "tools", t.Name, t.Version)
	return gobin, []string{"go", "install", "-ldflags=-s -w", t.Package + "@" + t.Version}, t.Env
}

// ServeImage builds the `tollgate` container image that runs `tollgate serve` (see
// docs/serve.md and deploy/): Tollgate's CLI built from this module's source, and the pinned
// syft and trivy built from the Go module proxy, all static, with the pinned Go image, on an
// empty base holding only them, CA certificates and a nonroot user (65532): no shell, no
// package manager. Publish it with `publish --address=REGISTRY/tollgate:VERSION`.
func (m *Tollgate) ServeImage() *dagger.Container {
	env := serveBuildEnv()
	builder := dag.Container().From(tools.GoImage).
		WithMountedCache("/go/pkg/mod", dag.CacheVolume("tollgate-go-mod")).
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("tollgate-go-build"))
	for _, k := range []string{"CGO_ENABLED", "GOFLAGS", "GOTOOLCHAIN"} {
		builder = builder.WithEnvVariable(k, env[k])
	}
	src := dag.CurrentModule().Source().Filter(dagger.DirectoryFilterOpts{Exclude: []string{".git", "tollgate-reports"}})
	cli := builder.
		WithDirectory("/src", src).
		WithWorkdir("/src").
		WithExec([]string{"go", "build", "-ldflags=-s -w", "-o", "/out/tollgate", "./cmd/tollgate"}).
		File("/out/tollgate")
	image := dag.Container().
		WithFile("/etc/ssl/certs/ca-certificates.crt", builder.File("/etc/ssl/certs/ca-certificates.crt")).
		WithNewFile("/etc/passwd", servePasswd).
		WithNewFile("/etc/group", serveGroup).
		WithDirectory("/tmp", dag.Directory(), dagger.ContainerWithDirectoryOpts{Owner: serveUser}).
		WithDirectory("/home/nonroot", dag.Directory(), dagger.ContainerWithDirectoryOpts{Owner: serveUser}).
		WithFile(serveBinary, cli, dagger.ContainerWithFileOpts{Permissions: 0o755})
	for _, name := range serveTools {
		t := tools.MustGet(name)
		gobin, args, extra := serveToolInstall(t)
		b := builder.WithEnvVariable("GOBIN", "/out")
		for _, kv := range extra {
			k, v, _ := strings.Cut(kv, "=")
			b = b.WithEnvVariable(k, v)
		}
		bin := b.WithExec(args).File(path.Join("/out", t.Binary()))
		image = image.WithFile(path.Join(gobin, t.Binary()), bin, dagger.ContainerWithFileOpts{Permissions: 0o755})
	}
	return image.
		WithEnvVariable("TOLLGATE_CACHE_DIR", serveCacheDir).
		WithEnvVariable("HOME", "/home/nonroot").
		WithEnvVariable("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt").
		WithUser(serveUser).
		WithExposedPort(servePort).
		WithLabel("org.opencontainers.image.title", "tollgate").
		WithLabel("org.opencontainers.image.version", model.Version).
		WithLabel("org.opencontainers.image.description", "Tollgate: scan on push, rescan on new CVEs, notify (tollgate serve)").
		WithEntrypoint([]string{serveBinary}).
		WithDefaultArgs([]string{"serve", "--no-install", "--listen", "0.0.0.0:8080"})
}
