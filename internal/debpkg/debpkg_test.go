package debpkg

import (
	"context"
	"os/exec"
	"testing"
)

// Packages already installed are left alone: no apt run, no error. dpkg itself is always there
// on Debian, and a command on PATH needs nothing.
func TestNeedPresent(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Fatalf("not a Debian machine: %v", err)
	}
	if err := Install(context.Background(), "dpkg"); err != nil {
		t.Fatal(err)
	}
	p, err := Need(context.Background(), "sh", "dash")
	if err != nil || p == "" {
		t.Fatalf("Need(sh) = %q, %v", p, err)
	}
}
