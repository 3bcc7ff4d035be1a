package testimage

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// WriteDockerArchive writes img as a `docker save` tarball tagged ref (e.g. "tollgate/fixture:1").
func WriteDockerArchive(img v1.Image, ref, path string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("docker archive %s: %w", path, err)
	}
	return atomically(path, func(tmp string) error {
		return tarball.WriteToFile(tmp, tag, img)
	})
}

// WriteOCILayout writes img as an OCI image layout directory at dir (which must not exist).
func WriteOCILayout(img v1.Image, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("OCI layout %s: already exists", dir)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return nil
}

// WriteOCIArchive writes img as a tarball of an OCI image layout (what `docker buildx
// --output type=oci` and `skopeo copy oci-archive:` produce).
func WriteOCIArchive(img v1.Image, path string) error {
	dir, err := os.MkdirTemp("", "oci-layout-*")
	if err != nil {
		return fmt.Errorf("OCI archive %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	layoutDir := filepath.Join(dir, "layout")
	if err := WriteOCILayout(img, layoutDir); err != nil {
		return err
	}
	return atomically(path, func(tmp string) error { return tarDir(layoutDir, tmp) })
}

func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// atomically writes through a temp name beside path and renames, so no half file is left.
func atomically(path string, write func(tmp string) error) error {
	tmp := path + ".tmp"
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
