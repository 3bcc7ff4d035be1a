// Command benchimage writes the performance fixture of ci/bench-scan.sh: the vulnerable test
// image (Alpine packages, a Go binary, node_modules) plus big incompressible layers and a layer of
// many small files with a large node_modules tree, so both syft and trivy have real work.
//
//	go run ./ci/benchimage -out /tmp/bench/fixture.tar -mb 300 -format docker-archive
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tollgate-dev/tollgate/internal/testimage"
)

func main() {
	out := flag.String("out", "", "output path (a tarball, or a directory for oci-dir)")
	mb := flag.Int("mb", 300, "approximate size of the added big layers, in MiB")
	npm := flag.Int("npm", 1500, "npm packages to add under node_modules")
	small := flag.Int("files", 20000, "small files to add")
	format := flag.String("format", "docker-archive", "docker-archive, oci-archive or oci-dir")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "benchimage: -out is required")
		os.Exit(2)
	}
	if err := run(*out, *format, *mb, *npm, *small); err != nil {
		fmt.Fprintln(os.Stderr, "benchimage:", err)
		os.Exit(1)
	}
}

func run(out, format string, mb, npm, small int) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "benchimage-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := testimage.GoBinary(ctx, work)
	if err != nil {
		return err
	}
	img, err := testimage.Vulnerable(bin)
	if err != nil {
		return err
	}
	// A fixed seed keeps the fixture the same from run to run (same digests, same work).
	rng := rand.New(rand.NewPCG(1, 2))
	var layers []v1.Layer
	const bigLayers = 4
	for i := range bigLayers {
		l, err := makeLayer(work, fmt.Sprintf("big-%d", i), func(tw *tar.Writer) error {
			for j := range 3 {
				size := int64(mb) << 20 / bigLayers / 3
				if err := addFile(tw, fmt.Sprintf("opt/data%d/blob-%d.bin", i, j), randReader(rng, size), size); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		layers = append(layers, l)
	}
	l, err := makeLayer(work, "many", func(tw *tar.Writer) error {
		for i := range npm {
			name := fmt.Sprintf("pkg-%04d", i)
			pj := fmt.Sprintf(`{"name": %q, "version": "1.%d.%d", "license": "MIT", "main": "index.js"}`, name, i%17, i%5)
			if err := addBytes(tw, testimage.AppDir+"/node_modules/"+name+"/package.json", []byte(pj)); err != nil {
				return err
			}
			if err := addBytes(tw, testimage.AppDir+"/node_modules/"+name+"/index.js", []byte("module.exports = {};\n")); err != nil {
				return err
			}
		}
		for i := range small {
			size := int64(1024 + rng.IntN(3072))
			if err := addFile(tw, fmt.Sprintf("usr/share/bench/d%03d/f%05d.txt", i%200, i), randReader(rng, size), size); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	layers = append(layers, l)
	if img, err = mutate.AppendLayers(img, layers...); err != nil {
		return err
	}
	switch format {
	case "docker-archive":
		err = testimage.WriteDockerArchive(img, "tollgate/bench:1", out)
	case "oci-archive":
		err = testimage.WriteOCIArchive(img, out)
	case "oci-dir":
		err = testimage.WriteOCILayout(img, out)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%s, %d extra layers)\n", out, format, len(layers))
	return nil
}

// makeLayer writes a layer tar, gzips it once (fast level) and loads it from the file, so the
// image writer copies the compressed bytes instead of compressing them again.
func makeLayer(work, name string, fill func(*tar.Writer) error) (v1.Layer, error) {
	p := filepath.Join(work, name+".tar.gz")
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	if err := fill(tw); err != nil {
		f.Close()
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return tarball.LayerFromFile(p)
}

var mtime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func addFile(tw *tar.Writer, name string, r io.Reader, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := io.CopyN(tw, r, size)
	return err
}

func addBytes(tw *tar.Writer, name string, b []byte) error {
	return addFile(tw, name, bytes.NewReader(b), int64(len(b)))
}

// randReader yields n pseudo-random bytes (incompressible, like real binaries and assets).
func randReader(rng *rand.Rand, n int64) io.Reader {
	return io.LimitReader(&rngReader{rng}, n)
}

type rngReader struct{ rng *rand.Rand }

func (r *rngReader) Read(p []byte) (int, error) {
	for i := 0; i+8 <= len(p); i += 8 {
		v := r.rng.Uint64()
		for k := range 8 {
			p[i+k] = byte(v >> (8 * k))
		}
	}
	for i := len(p) &^ 7; i < len(p); i++ {
		p[i] = byte(r.rng.Uint32())
	}
	return len(p), nil
}
