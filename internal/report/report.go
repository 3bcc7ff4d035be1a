// Package report renders a run in every output format: one small Writer per format, picked
// by name, like kubeconform's pkg/output.
package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Writer renders a whole run in one format.
type Writer interface {
	// Write renders run to w.
	Write(w io.Writer, run *model.Run) error
	// FileName is the default file name of this format in the reports directory.
	FileName() string
}

// Formats lists the format names New accepts.
func Formats() []string { return []string{"table", "json", "sarif", "junit", "markdown"} }

// New returns the writer for a format name. Its "table" writer never colours; a caller that
// knows it writes to a terminal can use NewTable(true).
func New(format string) (Writer, error) {
	switch strings.ToLower(format) {
	case "table":
		return tableWriter{}, nil
	case "json":
		return jsonWriter{}, nil
	case "sarif":
		return sarifWriter{}, nil
	case "junit":
		return junitWriter{}, nil
	case "markdown", "md":
		return markdownWriter{}, nil
	}
	return nil, fmt.Errorf("unknown report format %q (want one of %s)", format, strings.Join(Formats(), ", "))
}
