package lint

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// `# check=error=true` asks BuildKit to fail the build on any of its checks. Tollgate reports
// each violation at its line, raised to errorOnWarnSeverity, instead of failing the stage with
// BuildKit's one-line "lint violation found" error.
func TestCheckErrorDirective(t *testing.T) {
	res := lintFixture(t, "buildkit-check-error", Options{})
	fs := findingsOf(res, "JSONArgsRecommended")
	if len(fs) != 1 || fs[0].Location.Line != 7 {
		t.Fatalf("want one JSONArgsRecommended finding at line 7, got%s", dump(res))
	}
	if fs[0].Severity != model.SeverityHigh || !strings.Contains(fs[0].Message, "check=error=true") {
		t.Errorf("finding not raised for check=error=true: %+v", fs[0])
	}

	const body = "FROM alpine:3.20\nUSER 65532\nCMD app --flag\n"
	cases := []struct {
		name     string
		text     string
		wantLine int // 0: JSONArgsRecommended must not fire
		wantSev  model.Severity
	}{
		{"no directive", body, 3, model.SeverityLow},
		{"error=false", "# check=error=false\n" + body, 4, model.SeverityLow},
		{"error=true", "# check=error=true\n" + body, 4, model.SeverityHigh},
		{"error=true with skip", "# check=error=true;skip=JSONArgsRecommended\n" + body, 0, 0},
		{"skip then error=true", "# check=skip=JSONArgsRecommended;error=true\n" + body, 0, 0},
		{"skip and error=true on another rule", "# check=skip=FromAsCasing;error=true\n" + body, 4, model.SeverityHigh},
		{"CRLF", strings.ReplaceAll("# check=error=true\n"+body, "\n", "\r\n"), 4, model.SeverityHigh},
		{"after a shebang", "#!/usr/bin/env buildctl\n# check=error=true\n" + body, 5, model.SeverityHigh},
		// BuildKit's parser used to crash on a check comment above an instruction.
		{"check comment above the instruction", "FROM alpine:3.20\nUSER 65532\n# check=skip=JSONArgsRecommended\nCMD app --flag\n", 0, 0},
		{"check comment above another instruction", "FROM alpine:3.20\n# check=skip=JSONArgsRecommended\nUSER 65532\nCMD app --flag\n", 4, model.SeverityLow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := lintText(t, c.text, nil, Options{})
			fs := findingsOf(res, "JSONArgsRecommended")
			if c.wantLine == 0 {
				if len(fs) > 0 {
					t.Fatalf("skipped rule fired:%s", dump(res))
				}
				return
			}
			if len(fs) != 1 || fs[0].Location.Line != c.wantLine || fs[0].Severity != c.wantSev {
				t.Fatalf("want JSONArgsRecommended at line %d with %s, got%s", c.wantLine, c.wantSev, dump(res))
			}
		})
	}

	// A rule's configured severity above the floor stays; a directive BuildKit cannot read is
	// bad input at its line.
	res = lintText(t, "# check=error=true\n"+body, nil, Options{Rules: map[string]config.RuleSetting{"JSONArgsRecommended": {Severity: model.SeverityCritical}}})
	if fs := findingsOf(res, "JSONArgsRecommended"); len(fs) != 1 || fs[0].Severity != model.SeverityCritical {
		t.Errorf("configured CRITICAL lowered:%s", dump(res))
	}
	_, err := Lint(context.Background(), Options{}, []Input{{Path: "Dockerfile", Content: []byte("# check=error=maybe\n" + body)}})
	var ie *model.InputError
	if !errors.As(err, &ie) || ie.Line != 1 || !strings.Contains(ie.Error(), "check") {
		t.Errorf("bad check directive: got %v, want an input error at line 1", err)
	}
}
