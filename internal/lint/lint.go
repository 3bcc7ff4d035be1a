// Package lint is the Dockerfile lint stage: BuildKit's parser and linter plus Tollgate's
// security rules, registered like kube-score's checks.
package lint

import (
	"context"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Name is the stage name.
const Name = "lint"

// Input is one Dockerfile and the .dockerignore beside it.
type Input struct {
	Path            string // as shown in findings (relative to the project root)
	Content         []byte
	DockerIgnore    []byte // content of .dockerignore beside the Dockerfile
	HasDockerIgnore bool
}

// Options tune the rules.
type Options struct {
	AllowedRegistries []string
	Rules             map[string]config.RuleSetting
}

// OptionsFrom reads lint options from the config.
func OptionsFrom(c *config.Config) Options {
	return Options{AllowedRegistries: c.Lint.AllowedRegistries, Rules: c.Lint.Rules}
}

// Tool is the "tool" reported for this stage: Tollgate's own linter.
func Tool() model.Tool { return model.Tool{Name: "tollgate-lint", Version: "1"} }

// Lint checks the Dockerfiles. Bad input (binary, empty, unparseable) is a *model.InputError.
func Lint(ctx context.Context, opts Options, inputs []Input) (*model.StageResult, error) {
	// TODO(lint helper): implement.
	return &model.StageResult{Stage: Name, Tool: Tool(), Findings: []model.Finding{}}, nil
}

// Rules returns the metadata of every rule.
func Rules() []model.Rule { return nil }

// Stage is the native lint stage: it reads the files named on the command line or in config.
func Stage() stage.Stage {
	return stage.Stage{Name: Name, Tool: Tool(), Run: func(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
		// TODO(lint helper): read inputs from env.Args or env.Config.Lint.Dockerfiles.
		return Lint(ctx, OptionsFrom(env.Config), nil)
	}}
}
