//go:build daggerunit

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestSbomSource(t *testing.T) {
	tests := []struct {
		container               bool
		ref                     string
		source, subject, author string
		wantErr                 string
	}{
		{container: true, source: "oci-archive:" + sbomImagePath, subject: "container"},
		{ref: "registry.example.com:5000/team/app:1.2", source: "registry:registry.example.com:5000/team/app:1.2",
			subject: "registry.example.com:5000/team/app:1.2", author: "registry.example.com:5000"},
		{ref: "alpine", source: "registry:alpine", subject: "alpine", author: "index.docker.io"},
		{container: true, ref: "alpine", wantErr: "not both"},
		{wantErr: "no image"},
		{ref: "Bad::Ref", wantErr: "not a valid reference"},
	}
	for _, tc := range tests {
		src, subj, auth, err := sbomSource(tc.container, tc.ref)
		if tc.wantErr != "" {
			var ie *model.InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("sbomSource(%v, %q) err = %v, want InputError %q", tc.container, tc.ref, err, tc.wantErr)
			}
			continue
		}
		if err != nil || src != tc.source || subj != tc.subject || auth != tc.author {
			t.Errorf("sbomSource(%v, %q) = %q %q %q %v", tc.container, tc.ref, src, subj, auth, err)
		}
	}
}

func TestSbomConfigImage(t *testing.T) {
	tests := []struct{ sbom, scan, want string }{
		{"", "", ""},
		{"sbom.tar", "scan.tar", "sbom.tar"},
		{"", "registry.example/app:1", "registry.example/app:1"},
		{"  ", " app.tar ", "app.tar"},
	}
	for _, tc := range tests {
		if got := sbomConfigImage(tc.sbom, tc.scan); got != tc.want {
			t.Errorf("sbomConfigImage(%q, %q) = %q, want %q", tc.sbom, tc.scan, got, tc.want)
		}
	}
}
