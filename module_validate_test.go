//go:build daggerunit

package main

import "testing"

func TestSplitSchemaLocation(t *testing.T) {
	tests := []struct {
		loc, dir, rest string
		local          bool
	}{
		{"https://example.com/{{ .ResourceKind }}.json", "", "", false},
		{"schemas", "schemas", "", true},
		{"./schemas/", "schemas", "", true},
		{"schemas/{{ .Group }}/{{ .ResourceKind }}.json", "schemas", "/{{ .Group }}/{{ .ResourceKind }}.json", true},
		{"schemas/crd-{{ .ResourceKind }}.json", "schemas", "/crd-{{ .ResourceKind }}.json", true},
		{"./schemas/{{ .ResourceKind }}.json", "schemas", "/{{ .ResourceKind }}.json", true},
		{"{{ .ResourceKind }}.json", ".", "/{{ .ResourceKind }}.json", true},
	}
	for _, tt := range tests {
		dir, rest, local := splitSchemaLocation(tt.loc)
		if dir != tt.dir || rest != tt.rest || local != tt.local {
			t.Errorf("splitSchemaLocation(%q) = %q, %q, %v; want %q, %q, %v", tt.loc, dir, rest, local, tt.dir, tt.rest, tt.local)
		}
	}
}
