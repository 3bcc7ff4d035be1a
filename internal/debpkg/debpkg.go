// Package debpkg installs the Debian packages that Tollgate's tests and CI run for real (etcd,
// Distribution's registry, PostgreSQL, Chromium, runc, pre-commit) when a machine lacks them.
// Several test binaries may ask at once, and other people share apt on a build machine: apt waits
// for the dpkg lock instead of failing.
package debpkg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// policyRC keeps packages from starting their system services on install (Debian's invoke-rc.d
// honours it): tests start their own servers as plain processes, never the system's.
const policyRC = "/usr/sbin/policy-rc.d"

// mu serialises installs within one process; apt's lock handles other processes.
var mu sync.Mutex

// Need makes sure the command is on PATH, installing pkg when it is not, and returns its path.
func Need(ctx context.Context, command, pkg string) (string, error) {
	if p, err := exec.LookPath(command); err == nil {
		return p, nil
	}
	if err := Install(ctx, pkg); err != nil {
		return "", err
	}
	p, err := exec.LookPath(command)
	if err != nil {
		return "", fmt.Errorf("installed Debian package %s, but %s is still not on PATH: %w", pkg, command, err)
	}
	return p, nil
}

// Install installs the packages that are not installed yet (without recommends), running
// `apt-get update` once first if apt does not know one of them (a fresh machine has no lists).
func Install(ctx context.Context, pkgs ...string) error {
	mu.Lock()
	defer mu.Unlock()
	var missing []string
	for _, p := range pkgs {
		if exec.CommandContext(ctx, "dpkg", "-s", p).Run() != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("Debian packages %s are needed and only root can install them: apt-get install %s",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	if _, err := os.Stat(policyRC); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policyRC, []byte("#!/bin/sh\n# written by Tollgate's tests while installing packages: start no services\nexit 101\n"), 0o755); err == nil {
			defer os.Remove(policyRC)
		}
	}
	install := func() ([]byte, error) {
		return apt(ctx, append([]string{"install", "-y", "--no-install-recommends"}, missing...)...)
	}
	out, err := install()
	if err != nil {
		if uout, uerr := apt(ctx, "update"); uerr != nil {
			return fmt.Errorf("apt-get update: %v\n%s", uerr, tail(uout, 10))
		}
		if out, err = install(); err != nil {
			return fmt.Errorf("apt-get install %s: %v\n%s", strings.Join(missing, " "), err, tail(out, 10))
		}
	}
	return nil
}

func apt(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=900"}, args...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	return cmd.CombinedOutput()
}

func tail(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
