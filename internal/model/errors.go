package model

import (
	"errors"
	"fmt"
)

// InputError is bad user input: a malformed file, config or argument. The CLI exits 2.
type InputError struct {
	File string // path of the offending file, if any
	Line int    // 1-based line, if known
	Err  error
}

func (e *InputError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	case e.File != "":
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	default:
		return e.Err.Error()
	}
}

func (e *InputError) Unwrap() error { return e.Err }

// InputErrorf builds an InputError for file:line.
func InputErrorf(file string, line int, format string, args ...any) error {
	return &InputError{File: file, Line: line, Err: fmt.Errorf(format, args...)}
}

// ToolError is a failure of an external tool or of the infrastructure (crash, timeout,
// unparseable output). The CLI exits 3; the stage fails closed.
type ToolError struct {
	Tool string
	Err  error
}

func (e *ToolError) Error() string { return fmt.Sprintf("%s: %v", e.Tool, e.Err) }
func (e *ToolError) Unwrap() error { return e.Err }

// ErrorResult turns an error into a StageResult with StatusError and the right kind.
func ErrorResult(stage string, tool Tool, err error) *StageResult {
	kind := ErrKindTool
	var ie *InputError
	if errors.As(err, &ie) {
		kind = ErrKindInput
	}
	return &StageResult{Stage: stage, Status: StatusError, Tool: tool, Error: err.Error(), ErrorKind: kind, Findings: []Finding{}}
}
