package push

import "testing"

func TestPinnedRef(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct{ in, want string }{
		{"registry.example.com/team/app:1.0@" + d, "registry.example.com/team/app@" + d},
		{"127.0.0.1:5000/app@" + d, "127.0.0.1:5000/app@" + d},
		{"registry.example.com/team/app:1.0", ""},
		{"registry.example.com/team/app@sha256:short", ""},
	}
	for _, tt := range tests {
		got, err := PinnedRef(tt.in)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("PinnedRef(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
