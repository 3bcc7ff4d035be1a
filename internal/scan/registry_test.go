package scan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

// TestRegistryImageWithCredentials scans a reference in a registry on 127.0.0.1 that requires
// basic auth: Tollgate's credential variables reach trivy through its environment, and a VEX
// statement naming the image by its pinned digest applies.
func TestRegistryImageWithCredentials(t *testing.T) {
	needFixtures(t)
	toolPath(t, "trivy")
	const user, pass = "ci-bot", "s3cret-token-value"
	host, stop := testimage.Registry(user, pass)
	defer stop()
	ref := host + "/team/fixture:1"

	img, err := tarball.ImageFromPath(fx.vulnDocker, nil)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(ref)
	if err := remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()

	root := t.TempDir()
	vexDoc := `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
	"statements":[{"vulnerability":{"name":"CVE-2024-5535"},
	"products":[{"@id":"pkg:oci/fixture@` + strings.Replace(digest.String(), ":", "%3A", 1) + `","subcomponents":[{"@id":"pkg:apk/alpine/libssl3"},{"@id":"pkg:apk/alpine/libcrypto3"}]}],
	"status":"not_affected","justification":"vulnerable_code_not_in_execute_path","impact_statement":"no ALPN/NPN use"}]}`
	os.WriteFile(filepath.Join(root, "image.openvex.json"), []byte(vexDoc), 0o644)

	t.Setenv(image.EnvRegistryUsername, user)
	t.Setenv(image.EnvRegistryPassword, pass)
	cfg := offlineConfig()
	cfg.Scan.VEX = []string{"image.openvex.json"}
	res := runGated(t, cfg, root, time.Now(), ref)
	if res.Status != model.StatusFail || len(res.Findings) != len(testimage.Planted()) {
		t.Fatalf("status %s (%s%s) with %d findings, want fail with %d", res.Status, res.Summary, res.Error, len(res.Findings), len(testimage.Planted()))
	}
	for _, f := range res.Findings {
		if f.RuleID == "CVE-2024-5535" && (f.Suppression == nil || f.Suppression.Kind != "vex") {
			t.Errorf("%s in %s not suppressed by the image-level VEX statement", f.RuleID, f.Extra["package"])
		}
	}

	// Without credentials the registry refuses, and the scan does not pass.
	t.Setenv(image.EnvRegistryUsername, "")
	t.Setenv(image.EnvRegistryPassword, "")
	res = runGated(t, offlineConfig(), root, time.Now(), ref)
	if res.Status != model.StatusError {
		t.Fatalf("anonymous pull: status %s, want error", res.Status)
	}
	if strings.Contains(res.Error, pass) {
		t.Fatal("error message leaks the password")
	}
}
