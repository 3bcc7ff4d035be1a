package build

import (
	"errors"
	"fmt"
	"strings"

	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// logTailLines is how much of a failing step's log an error shows.
const logTailLines = 15

// classify decides whose fault a failed solve is. A step that exits non-zero, a Dockerfile the
// frontend rejects, a missing COPY source or base image, an unknown target: the sources do not
// build, bad input (exit 2) at the Dockerfile line BuildKit points to, with the step's log tail.
// An unreachable registry or a broken daemon is infrastructure (exit 3).
func classify(err error, p *Plan, tr *tracker) error {
	msg := cleanMessage(err)
	line, text := sourceLine(err, p)
	if st, ok := status.FromError(err); (ok && st.Code() == codes.Unavailable) || (isConnError(msg) && line == 0) {
		return toolErr(fmt.Errorf("lost the connection to buildkitd: %s", msg))
	}
	if isNetworkError(msg) {
		where := ""
		if line > 0 {
			where = fmt.Sprintf(" (%s:%d)", p.DockerfileRel, line)
		}
		return &model.ToolError{Tool: "registry", Err: fmt.Errorf("the build could not reach a registry%s: %s", where, msg)}
	}
	var exit *gwpb.ExitError
	isExit := errors.As(err, &exit)
	if line == 0 && !isExit && !isInputMessage(msg) {
		return toolErr(fmt.Errorf("the build failed: %s", msg))
	}
	var b strings.Builder
	b.WriteString(msg)
	if text != "" {
		fmt.Fprintf(&b, "\n  %d | %s", line, text)
	}
	if dg, name := tr.failedStep(); dg != "" {
		if tail := tr.logTail(dg, logTailLines); tail != "" {
			fmt.Fprintf(&b, "\n  last lines of %s:\n    %s", oneLine(tr.scrub(name)), strings.ReplaceAll(tail, "\n", "\n    "))
		}
	}
	return &model.InputError{File: p.DockerfileRel, Line: line, Err: errors.New(tr.scrub(b.String()))}
}

// sourceLine is the Dockerfile line BuildKit attached to the error, and its text.
func sourceLine(err error, p *Plan) (int, string) {
	for _, s := range errdefs.Sources(err) {
		if s.Info == nil || len(s.Ranges) == 0 {
			continue
		}
		line := int(s.Ranges[0].Start.Line)
		if line <= 0 {
			continue
		}
		lines := strings.Split(string(s.Info.Data), "\n")
		text := ""
		if line <= len(lines) {
			text = strings.TrimSpace(lines[line-1])
		}
		return line, text
	}
	return 0, ""
}

// cleanMessage is BuildKit's message without gRPC wrapping.
func cleanMessage(err error) string {
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
	}
	msg = strings.TrimPrefix(msg, "rpc error: code = Unknown desc = ")
	return strings.TrimSpace(msg)
}

func isConnError(msg string) bool {
	for _, m := range []string{"connection reset", "broken pipe", "transport is closing", "error reading from server: EOF", "connection closed"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// isNetworkError spots registry trouble: a base image whose registry does not answer is an
// infrastructure failure, not a mistake in the Dockerfile.
func isNetworkError(msg string) bool {
	for _, m := range []string{"connection refused", "i/o timeout", "no such host", "network is unreachable", "TLS handshake timeout",
		"server misbehaving", "deadline exceeded", "EOF\n", "http: server gave HTTP response to HTTPS client"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return strings.HasSuffix(msg, ": EOF")
}

// isInputMessage recognises BuildKit's wording for problems in the sources that carry no line.
func isInputMessage(msg string) bool {
	for _, m := range []string{"dockerfile parse error", "target stage", "failed to parse", "not found", "failed to compute cache key",
		"no build stage", "unknown instruction", "failed to read dockerfile", "invalid reference format", "secret", "did not complete successfully"} {
		if strings.Contains(strings.ToLower(msg), strings.ToLower(m)) {
			return true
		}
	}
	return false
}
