package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/serve/config"
)

func TestDefaults(t *testing.T) {
	c, err := config.Parse("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.Auth.Secret.Env != "TOLLGATE_SERVE_SECRET" || c.Auth.Disabled || c.Queue.Workers != 2 ||
		c.Queue.MaxAttempts != 5 || c.Notify.MinSeverity != model.SeverityHigh || c.Rescan.Interval.Duration != 24*time.Hour || c.DBMaxAge() != 7*24*time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFull(t *testing.T) {
	y := `listen: 0.0.0.0:8080
data-dir: /var/lib/tollgate
base-url: https://tollgate.example.com
auth:
  secret: {file: /run/secrets/serve}
registries:
  - host: registry.example.com
    username: ci
    password: {env: REG_PASS}
scan:
  db-dir: /var/lib/trivy
  db-poll: 30s
rescan:
  interval: 0s
notify:
  min-severity: MEDIUM
  fixable-only: true
  targets:
    - {name: hook, type: webhook, url: "https://hooks.example.com/x", secret: {env: HOOK_SECRET}}
    - {name: chat, type: slack, url-secret: {env: SLACK_URL}}
    - {name: gh, type: github, repository: acme/app, token: {env: GITHUB_TOKEN}}
    - {name: gl, type: gitlab, project: "42", token: {file: /run/secrets/gl}}
`
	c, err := config.Parse("serve.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rescan.Interval.Duration != 0 || c.Scan.DBPoll.Duration != 30*time.Second || c.Notify.Targets[2].API != "https://api.github.com" ||
		c.Notify.Targets[3].API != "https://gitlab.com" || !c.Notify.FixableOnly || c.Registries[0].Password.Env != "REG_PASS" {
		t.Fatalf("parsed: %+v", c)
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		msg        string
	}{
		{"unknown key", "listen: x\nlisten-port: 1\n", 2, `unknown key "listen-port"`},
		{"bad duration", "queue:\n  backoff: soon\n", 2, "duration"},
		{"slack URL in the clear", "notify:\n  targets:\n    - {name: s, type: slack, url: 'https://hooks.slack.com/services/T/B/X'}\n", 3, "url-secret"},
		{"unknown target type", "notify:\n  targets:\n    - name: x\n      type: pager\n", 3, "unknown type"},
		{"github without token", "notify:\n  targets:\n    - {name: g, type: github, repository: a/b}\n", 3, "token"},
		{"registry password without user", "registries:\n  - host: r.example.com\n    password: {env: X}\n", 2, "both username and password"},
		{"password in database URL", "database: postgres://u:hunter2@db/tollgate\n", 0, "PGPASSWORD"},
		{"bad severity", "notify:\n  min-severity: SEVERE\n", 2, "unknown severity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("serve.yaml", []byte(tc.yaml))
			var ie *model.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v, want an InputError", err)
			}
			if ie.File != "serve.yaml" || ie.Line != tc.line || !strings.Contains(ie.Error(), tc.msg) {
				t.Fatalf("error %q at %s:%d, want line %d mentioning %q", ie.Error(), ie.File, ie.Line, tc.line, tc.msg)
			}
			if strings.Contains(ie.Error(), "hunter2") {
				t.Fatal("error repeats the password")
			}
		})
	}
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s")
	os.WriteFile(f, []byte("from-file\n"), 0o600)
	t.Setenv("TG_TEST_SECRET", "from-env")
	if v, err := (config.Secret{File: f}).Read("x"); err != nil || v != "from-file" {
		t.Fatalf("file: %q %v", v, err)
	}
	if v, err := (config.Secret{Env: "TG_TEST_SECRET"}).Read("x"); err != nil || v != "from-env" {
		t.Fatalf("env: %q %v", v, err)
	}
	if _, err := (config.Secret{Env: "TG_TEST_UNSET_VAR"}).Read("auth.secret"); err == nil || !strings.Contains(err.Error(), "TG_TEST_UNSET_VAR is not set") {
		t.Fatalf("unset env: %v", err)
	}
	os.WriteFile(f, nil, 0o600)
	if _, err := (config.Secret{File: f}).Read("x"); err == nil {
		t.Fatal("empty secret file accepted")
	}
}
