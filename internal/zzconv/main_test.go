package zzconv

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestConv(t *testing.T) {
	s := time.Now()
	img, err := tarball.ImageFromPath("/tmp/bw/project/image.tar", nil)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll("/tmp/bw/conv")
	p, err := layout.Write("/tmp/bw/conv", empty.Index)
	if err != nil { t.Fatal(err) }
	if err := p.AppendImage(img); err != nil { t.Fatal(err) }
	t.Logf("converted in %v", time.Since(s))
}
