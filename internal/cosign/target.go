package cosign

import (
	"strings"

	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Where a release stage's image came from.
const (
	FromPushed  = "pushed in this run"
	FromSigned  = "signed in this run"
	FromArgs    = "command line"
	FromConfig  = "tollgate.yaml"
	FromNowhere = ""
)

// Targets are the images a release stage works on, in order of precedence: the digest pushed in
// this run (stage.KeyPublishedRef), else the one signed in this run (stage.KeySignedRef; attest
// and verify read it), else the command line's IMAGE arguments, else the first configured image.
func Targets(env *stage.Env, useSigned bool, configured ...string) (refs []string, from string) {
	if env.Shared != nil {
		if v, ok := env.Shared.Get(stage.KeyPublishedRef); ok {
			if s, ok := v.(string); ok && s != "" {
				return []string{s}, FromPushed
			}
		}
		if useSigned {
			if v, ok := env.Shared.Get(stage.KeySignedRef); ok {
				if s, ok := v.(string); ok && s != "" {
					return []string{s}, FromSigned
				}
			}
		}
	}
	for _, a := range env.Args {
		if a = strings.TrimSpace(a); a != "" {
			refs = append(refs, a)
		}
	}
	if len(refs) > 0 {
		return refs, FromArgs
	}
	for _, c := range configured {
		if c = strings.TrimSpace(c); c != "" {
			return []string{c}, FromConfig
		}
	}
	return nil, FromNowhere
}
