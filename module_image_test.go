//go:build daggerunit

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/dagger"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Both image stages refuse the same nonsense before fetching anything (issue 8: scan accepted a
// username without a password, sbom did not).
func TestImageArgsCheck(t *testing.T) {
	ctr, secret := &dagger.Container{}, &dagger.Secret{}
	tests := []struct {
		name string
		a    imageArgs
		want string // "" means accepted
	}{
		{"container", imageArgs{ctr: ctr}, ""},
		{"reference with credentials", imageArgs{ref: "r.example/app:1", user: "ci", password: secret}, ""},
		{"both", imageArgs{ctr: ctr, ref: "r.example/app:1"}, "not both"},
		{"username alone", imageArgs{ref: "r.example/app:1", user: "ci"}, "go together"},
		{"password alone", imageArgs{ref: "r.example/app:1", password: secret}, "go together"},
	}
	for _, stage := range []string{"sbom", "scan"} {
		for _, tc := range tests {
			err := tc.a.check(stage)
			if tc.want == "" {
				if err != nil {
					t.Errorf("%s %s: %v", stage, tc.name, err)
				}
				continue
			}
			var ie *model.InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), stage+": ") {
				t.Errorf("%s %s: err = %v, want InputError %q", stage, tc.name, err, tc.want)
			}
		}
	}
}

// Issue 8.6: a registry on the loopback address cannot work from a tool container; say so.
func TestCheckRef(t *testing.T) {
	for _, ref := range []string{"registry.example.com/app:1.2", "10.199.0.1:5000/team/app:1", "alpine:3.20", "ghcr.io/o/app@sha256:" + strings.Repeat("a", 64)} {
		if _, err := checkRef(ref); err != nil {
			t.Errorf("checkRef(%q) = %v", ref, err)
		}
	}
	for _, ref := range []string{"127.0.0.1:5000/team/app:1", "localhost:5000/app", "LOCALHOST:5000/app", "[::1]:5000/app:1", "127.1.2.3:5000/app"} {
		_, err := checkRef(ref)
		var ie *model.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "loopback") || !strings.Contains(err.Error(), "host that containers reach") {
			t.Errorf("checkRef(%q) = %v, want an InputError about the loopback address", ref, err)
		}
	}
	if _, err := checkRef("Bad::Ref"); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("bad reference: %v", err)
	}
}

func TestIndexDigest(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	got, err := indexDigest([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d + `","size":1}]}`))
	if err != nil || got != d {
		t.Errorf("indexDigest = %q, %v", got, err)
	}
	for _, bad := range []string{"", "{", `{"manifests":[]}`, `{"manifests":[{"digest":"` + d + `"},{"digest":"` + d + `"}]}`, `{"manifests":[{"digest":"md5:x"}]}`} {
		var te *model.ToolError
		if _, err := indexDigest([]byte(bad)); !errors.As(err, &te) {
			t.Errorf("indexDigest(%q) = %v, want ToolError", bad, err)
		}
	}
}

// Issue 8: messages name the image as the user knows it, never by the module's mount points.
func TestHideImagePaths(t *testing.T) {
	img := &imageInput{name: "sha256:abc"}
	msg := "open /tollgate/image.tar: unexpected EOF; scanning /tollgate/image (alpine 3.19)"
	got := hideImagePaths(msg, img)
	if strings.Contains(got, "/tollgate") || got != "open sha256:abc: unexpected EOF; scanning sha256:abc (alpine 3.19)" {
		t.Errorf("hideImagePaths = %q", got)
	}
}
