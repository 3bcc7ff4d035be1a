package lint

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/tollgate-dev/tollgate/internal/model"
)

var (
	// secretWords mark a variable name as holding a secret when they are whole words of it.
	secretWords = map[string]bool{
		"password": true, "passwd": true, "pass": true, "secret": true, "secrets": true, "token": true,
		"apikey": true, "credential": true, "credentials": true, "privatekey": true, "accesskey": true,
		"secretkey": true, "pat": true,
	}
	// keyQualifiers make "KEY" a secret when they come right before it (API_KEY, PRIVATE_KEY...).
	keyQualifiers = map[string]bool{
		"api": true, "access": true, "private": true, "secret": true, "encryption": true, "signing": true,
		"master": true, "license": true, "client": true, "session": true, "auth": true,
	}
	// notSecretSuffixes end names that point at or describe a secret rather than hold it.
	notSecretSuffixes = map[string]bool{
		"file": true, "path": true, "dir": true, "url": true, "uri": true, "name": true, "id": true,
		"type": true, "length": true, "len": true, "size": true, "endpoint": true, "header": true,
		"location": true, "mode": true, "enabled": true, "policy": true, "env": true, "version": true,
	}
	// secretValueRes recognise well-known credential formats under any name.
	secretValueRes = []*regexp.Regexp{
		regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`),                // AWS access key
		regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,}\b`),               // GitHub token
		regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9_]{22,}`),               // GitHub fine-grained token
		regexp.MustCompile(`\bglpat-[A-Za-z0-9_\-]{20,}`),                  // GitLab token
		regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`),               // Slack token
		regexp.MustCompile(`\b[sr]k_live_[A-Za-z0-9]{16,}`),                // Stripe key
		regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}\b`),                   // Google API key
		regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`),                      // npm token
		regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`),           // PEM private key
		regexp.MustCompile(`\b[a-z][a-z0-9+.\-]*://[^/\s:@$]+:[^/\s@$]+@`), // URL with a password
	}
)

// Secret rules apply to every stage, to ONBUILD ENV/ARG triggers and to the ARGs before the
// first FROM: a secret written in a Dockerfile is in version control and in the image history
// whichever stage holds it.
func secretRules() []rule {
	return []rule{
		newRule("TG-DF-040", "secret-name-in-env-arg", model.SeverityHigh,
			"ENV values are baked into the image and ARG values into its build history; a variable named like a secret will leak it to anyone who can pull the image.",
			"Pass secrets with `RUN --mount=type=secret,id=<name>` (docker build --secret) and read them at runtime from the environment or a mounted file, never ENV/ARG.",
			"FROM node:20\nARG NPM_TOKEN\nENV DB_PASSWORD=$DB_PASSWORD",
			checkSecrets(false)),
		newRule("TG-DF-041", "secret-value-in-env-arg", model.SeverityCritical,
			"A literal credential in ENV/ARG is committed to source control and shipped in the image: treat it as leaked.",
			"Revoke the credential now, remove it from the Dockerfile (and git history), and pass it with a build secret mount or at runtime.",
			"FROM alpine:3.20\nARG DB_PASSWORD=hunter2",
			checkSecrets(true)),
	}
}

// checkSecrets reports secret-looking variables: literal values when literal is true (041),
// otherwise names whose value is absent or comes from another variable (040).
func checkSecrets(literal bool) func(*dockerfile, *Options) []hit {
	return func(df *dockerfile, _ *Options) []hit {
		var hs []hit
		check := func(c command, kind, key string, value *string) {
			if c.onbuild {
				kind = "ONBUILD " + kind
			}
			v := ""
			if value != nil {
				v = strings.Trim(strings.TrimSpace(*value), `"'`)
			}
			line := df.lineOf(c.start, c.end, key)
			known := knownSecretValue(v)
			named := secretName(key)
			switch {
			case literal && known:
				hs = append(hs, hit{line: line, anchor: c.start, msg: fmt.Sprintf("%s %s holds what looks like a real credential (value not shown)%s", kind, key, c.note())})
			case literal && named && v != "" && !strings.HasPrefix(v, "$"):
				hs = append(hs, hit{line: line, anchor: c.start, msg: fmt.Sprintf("%s %s sets a literal secret value (value not shown)%s", kind, key, c.note())})
			case !literal && named && !known && strings.HasSuffix(kind, "ARG") && (v == "" || strings.HasPrefix(v, "$")):
				hs = append(hs, hit{line: line, anchor: c.start, msg: fmt.Sprintf("%s %s passes a secret through the image's build history%s", kind, key, c.note())})
			case !literal && named && !known && strings.HasSuffix(kind, "ENV") && strings.HasPrefix(v, "$"):
				hs = append(hs, hit{line: line, anchor: c.start, msg: fmt.Sprintf("%s %s bakes a secret into the image's environment%s", kind, key, c.note())})
			}
		}
		for _, a := range df.metaArgs {
			c := command{name: "arg", start: firstLine(a.Location()), cmd: a}
			c.end = c.start
			for _, kv := range a.Args {
				check(c, "ARG", kv.Key, kv.Value)
			}
		}
		for _, s := range df.stages {
			for _, c := range s.all {
				switch x := c.cmd.(type) {
				case *instructions.ArgCommand:
					for _, kv := range x.Args {
						check(c, "ARG", kv.Key, kv.Value)
					}
				case *instructions.EnvCommand:
					for _, kv := range x.Env {
						check(c, "ENV", kv.Key, &kv.Value)
					}
				}
			}
		}
		return hs
	}
}

func knownSecretValue(v string) bool {
	for _, re := range secretValueRes {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// secretName reports whether a variable name says it holds a secret: DB_PASSWORD, apiKey,
// GITHUB_TOKEN yes; PASSWORD_FILE, GPG_KEY, TOKEN_URL no.
func secretName(name string) bool {
	words := nameWords(name)
	if len(words) == 0 || notSecretSuffixes[words[len(words)-1]] {
		return false
	}
	for i, w := range words {
		if secretWords[w] {
			return true
		}
		if w == "key" && i > 0 && keyQualifiers[words[i-1]] {
			return true
		}
	}
	return false
}

// nameWords splits SNAKE_CASE, kebab-case and camelCase names into lower-case words.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && i > 0 && unicode.IsLower(rs[i-1]):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return words
}
