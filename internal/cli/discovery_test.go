package cli

import (
	"strings"
	"testing"
)

func TestOutsidePolicyPaths(t *testing.T) {
	tests := []struct {
		paths, dirs []string
		want        string
	}{
		{[]string{"k8s", "security", "security/more", "securityx"}, []string{"security"}, "k8s,securityx"},
		{[]string{"deploy/app", "policies/lib"}, []string{"./policies/"}, "deploy/app"},
		{[]string{"a", "b"}, nil, "a,b"},
	}
	for _, tc := range tests {
		if got := strings.Join(outside(tc.paths, tc.dirs), ","); got != tc.want {
			t.Errorf("outside(%v, %v) = %s, want %s", tc.paths, tc.dirs, got, tc.want)
		}
	}
}
