//go:build daggerunit

package main

import (
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/tools"
)

// The image puts each scanner exactly where the native tool installer looks for it, so
// `tollgate serve --no-install` in the image finds the pinned versions.
func TestServeImageToolLayout(t *testing.T) {
	in := &tools.Installer{CacheDir: serveCacheDir}
	for _, name := range serveTools {
		tool := tools.MustGet(name)
		gobin, args, env := serveToolInstall(tool)
		if got, want := gobin+"/"+tool.Binary(), in.Path(tool); got != want {
			t.Errorf("%s installed at %s, the installer looks at %s", name, got, want)
		}
		if args[len(args)-1] != tool.Package+"@"+tool.Version {
			t.Errorf("%s: go install %v, want the pinned %s@%s", name, args, tool.Package, tool.Version)
		}
		if name == "trivy" && !strings.Contains(strings.Join(env, " "), "GOEXPERIMENT=jsonv2") {
			t.Errorf("trivy must be built with GOEXPERIMENT=jsonv2, env %v", env)
		}
	}
	if serveBuildEnv()["CGO_ENABLED"] != "0" {
		t.Error("binaries for an empty base (no libc) must be built without cgo")
	}
}
