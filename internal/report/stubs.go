package report

// TODO(report helper): replace these stubs, one file per format.

import (
	"encoding/json"
	"io"

	"github.com/tollgate-dev/tollgate/internal/model"
)

type tableWriter struct{}
type jsonWriter struct{}
type sarifWriter struct{}
type junitWriter struct{}
type markdownWriter struct{}

func (tableWriter) FileName() string    { return "report.txt" }
func (jsonWriter) FileName() string     { return "tollgate.json" }
func (sarifWriter) FileName() string    { return "tollgate.sarif" }
func (junitWriter) FileName() string    { return "junit.xml" }
func (markdownWriter) FileName() string { return "summary.md" }

func (tableWriter) Write(w io.Writer, run *model.Run) error    { return json.NewEncoder(w).Encode(run) }
func (jsonWriter) Write(w io.Writer, run *model.Run) error     { return json.NewEncoder(w).Encode(run) }
func (sarifWriter) Write(w io.Writer, run *model.Run) error    { return json.NewEncoder(w).Encode(run) }
func (junitWriter) Write(w io.Writer, run *model.Run) error    { return json.NewEncoder(w).Encode(run) }
func (markdownWriter) Write(w io.Writer, run *model.Run) error { return json.NewEncoder(w).Encode(run) }
