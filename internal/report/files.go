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

// WriteAll writes every format into dir. Each file is written to a temp name and renamed,
// so a failed run never leaves a half-written report.
func WriteAll(dir string, run *model.Run) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("reports dir: %w", err)
	}
	var paths []string
	for _, f := range Formats() {
		w, _ := New(f)
		b, err := Render(f, run)
		if err != nil {
			return paths, err
		}
		p := filepath.Join(dir, w.FileName())
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return paths, fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return paths, fmt.Errorf("write %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
