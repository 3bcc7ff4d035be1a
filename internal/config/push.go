package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Push configures publishing the built image. It runs only after every gate passed.
type Push struct {
	// Repository to push to, e.g. registry.example.com/team/app (no tag, no digest).
	Repository string `yaml:"repository"`
	// Tags to point at the pushed image (default: none; the image is pushed by digest).
	Tags []string `yaml:"tags"`
	// Insecure allows plain HTTP; accepted only for loopback registries (127.0.0.1, ::1,
	// localhost), so credentials and images never cross a network unencrypted.
	Insecure bool `yaml:"insecure"`
	// Timeout bounds the whole push, as a Go duration (default 10m).
	Timeout string `yaml:"timeout"`

	// Configured is set when the file has a push section, --push is given or the push stage
	// was selected by name. Without it the stage is skipped.
	Configured bool `yaml:"-"`
	// Line of the push section in the config file (0 when absent).
	Line int `yaml:"-"`
}

func (p *Push) defaults() {
	if p.Timeout == "" {
		p.Timeout = "10m"
	}
}

// TimeoutDuration parses Timeout.
func (p *Push) TimeoutDuration() (time.Duration, error) {
	d, err := time.ParseDuration(p.Timeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("push.timeout: %q is not a positive Go duration (e.g. 10m)", p.Timeout)
	}
	return d, nil
}

// IsLoopback reports whether a registry host (host or host:port) is on this machine.
func IsLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidatePush checks the push settings (the file's, after flags); errors name the file.
func (c *Config) ValidatePush() error {
	p := &c.Push
	bad := func(format string, args ...any) error {
		return &model.InputError{File: c.Path, Line: p.Line, Err: fmt.Errorf(format, args...)}
	}
	if _, err := p.TimeoutDuration(); err != nil {
		return bad("%v", err)
	}
	if p.Repository == "" {
		return nil
	}
	repo, err := name.NewRepository(p.Repository, name.StrictValidation)
	if err != nil || strings.ContainsAny(p.Repository, "@") {
		return bad("push.repository: %q is not a repository name (registry/path, without tag or digest): %v", p.Repository, err)
	}
	if p.Insecure && !IsLoopback(repo.RegistryStr()) {
		return bad("push.insecure: plain HTTP is allowed only for loopback registries (127.0.0.1, ::1, localhost), not %s", repo.RegistryStr())
	}
	for _, t := range p.Tags {
		if _, err := name.NewTag(p.Repository+":"+t, name.StrictValidation); err != nil || t == "" {
			return bad("push.tags: %q is not a valid tag: %v", t, err)
		}
	}
	return nil
}
