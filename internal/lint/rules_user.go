package lint

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// User rules are about the shipped image, so they look at the final stage and the stages it
// is built on (FROM <stage>); a builder stage may run as root.
func userRules() []rule {
	return []rule{
		newRule("TG-DF-010", "final-stage-root", model.SeverityHigh,
			"A container that runs as root turns any code execution bug into root in the container and makes escapes far worse.",
			"Create an unprivileged user and end the final stage with `USER <name or uid>` (e.g. `USER 65532:65532`).",
			"FROM alpine:3.20\nUSER root\nCMD [\"app\"]",
			checkRootUser),
		newRule("TG-DF-011", "sudo", model.SeverityMedium,
			"sudo in an image is a privilege-escalation path and a sign the image expects to run as root; builds already run as root.",
			"Drop sudo: run the privileged steps before switching USER, and do not install the sudo package.",
			"FROM debian:12\nRUN sudo apt-get update",
			checkSudo),
	}
}

func checkRootUser(df *dockerfile, _ *Options) []hit {
	final := df.final()
	for _, s := range df.lineage() {
		for i := len(s.commands) - 1; i >= 0; i-- {
			c := s.commands[i]
			u, ok := c.cmd.(*instructions.UserCommand)
			if !ok {
				continue
			}
			user := expandUser(df, s, i, u.User)
			if !isRoot(user) {
				return nil
			}
			where := ""
			if s != final {
				where = fmt.Sprintf(" (inherited by the final stage from stage %q)", s.name)
			}
			return []hit{{line: c.start, msg: fmt.Sprintf("the final image runs as root: USER %s%s", u.User, where)}}
		}
	}
	// Images published for non-root use (distroless ":nonroot", "...-nonroot" tags) default to an
	// unprivileged user; relying on that silently is still worth a note, not a blocking finding.
	if root := df.lineage()[len(df.lineage())-1]; root.external() && nonRootTag(root.base) {
		return []hit{{line: final.line, atMost: model.SeverityLow,
			msg: fmt.Sprintf("the final stage sets no USER and relies on the non-root default user of %s; declare it with USER", root.base)}}
	}
	return []hit{{line: final.line, msg: "the final stage sets no USER, so the container runs as the base image's user (root unless the base says otherwise)"}}
}

// expandUser resolves $VARS in a USER value from the ARG/ENV values set before it in the stage.
func expandUser(df *dockerfile, s *buildStage, upto int, user string) string {
	if !strings.Contains(user, "$") {
		return user
	}
	env := resolveMetaArgs(df.escape, df.metaArgs, df.buildArgs)
	for _, c := range s.commands[:upto] {
		switch x := c.cmd.(type) {
		case *instructions.ArgCommand:
			for _, kv := range x.Args {
				if kv.Value != nil {
					env[kv.Key], _ = expandWord(df.escape, *kv.Value, env)
				}
			}
		case *instructions.EnvCommand:
			for _, kv := range x.Env {
				env[kv.Key], _ = expandWord(df.escape, kv.Value, env)
			}
		}
	}
	v, unset := expandWord(df.escape, user, env)
	if len(unset) > 0 {
		return user // unknown at lint time; do not guess root
	}
	return v
}

func isRoot(user string) bool {
	name, _, _ := strings.Cut(strings.TrimSpace(user), ":")
	return name == "root" || name == "0" || name == ""
}

func checkSudo(df *dockerfile, _ *Options) []hit {
	var hs []hit
	for _, s := range df.lineage() {
		for _, c := range s.commands {
			if c.name != "run" {
				continue
			}
			for l := c.start; l <= c.end; l++ {
				if sudoRe.MatchString(codePart(df.lines[l-1])) {
					hs = append(hs, hit{line: l, anchor: c.start, msg: "RUN uses or installs sudo"})
					break
				}
			}
		}
	}
	return hs
}

// nonRootTag reports whether an image reference's tag marks a non-root variant (distroless
// "nonroot", "debug-nonroot", "latest-nonroot"...).
func nonRootTag(ref string) bool {
	ref, _, _ = strings.Cut(ref, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return false
	}
	return strings.Contains(strings.ToLower(ref[i+1:]), "nonroot")
}
