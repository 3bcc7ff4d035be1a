package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Render returns the run in one format.
func Render(format string, run *model.Run) ([]byte, error) {
	w, err := New(format)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := w.Write(&buf, run); err != nil {
		return nil, fmt.Errorf("render %s report: %w", format, err)
	}
	return buf.Bytes(), nil
}

// WriteAll writes every format into dir and returns the paths written, in Formats order.
// Every report is rendered before any file is touched, and each file is written to a temp
// name in dir and renamed into place, so a failure never leaves a half-written report or a
// temp file behind.
func WriteAll(dir string, run *model.Run) ([]string, error) {
	type out struct {
		path string
		data []byte
	}
	var outs []out
	for _, f := range Formats() {
		w, err := New(f)
		if err != nil {
			return nil, err
		}
		b, err := Render(f, run)
		if err != nil {
			return nil, err
		}
		outs = append(outs, out{path: filepath.Join(dir, w.FileName()), data: b})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("reports dir: %w", err)
	}
	var paths []string
	for _, o := range outs {
		if err := writeFileAtomic(o.path, o.data); err != nil {
			return paths, err
		}
		paths = append(paths, o.path)
	}
	return paths, nil
}

// writeFileAtomic writes data to a temp file beside path, syncs it and renames it over path.
func writeFileAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
