package policy

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

const policiesDoc = "../../docs/policies.md"

// docs/policies.md is generated from the library; this fails when a policy changed and the doc did
// not. Regenerate with UPDATE_GOLDEN=1 go test ./internal/policy -run TestPoliciesDoc.
func TestPoliciesDoc(t *testing.T) {
	want, err := PoliciesMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(policiesDoc+".tmp", want, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(policiesDoc+".tmp", policiesDoc); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(policiesDoc)
	if err != nil {
		t.Fatalf("read %s: %v (generate it with UPDATE_GOLDEN=1 go test ./internal/policy -run TestPoliciesDoc)", policiesDoc, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with policies/; run UPDATE_GOLDEN=1 go test ./internal/policy -run TestPoliciesDoc", policiesDoc)
	}
	lib, _ := LoadLibrary()
	s, _ := NewSet(lib, nil, nil)
	for _, c := range s.Constraints {
		if !strings.Contains(string(got), "### "+c.Name+"\n") || !strings.Contains(string(got), "policy.disabled: ["+c.Name+"]") {
			t.Errorf("%s has no section or opt-out for %s", policiesDoc, c.Name)
		}
	}
}
