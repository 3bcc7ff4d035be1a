package lint

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

const rulesDoc = "../../docs/rules.md"

// docs/rules.md is generated from the registry; this fails when a rule changed and the doc did
// not. Regenerate with UPDATE_GOLDEN=1 go test ./internal/lint -run TestRulesDoc.
func TestRulesDoc(t *testing.T) {
	want := RulesMarkdown()
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("../../docs", 0o755); err != nil {
			t.Fatal(err)
		}
		tmp := rulesDoc + ".tmp"
		if err := os.WriteFile(tmp, want, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rulesDoc); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(rulesDoc)
	if err != nil {
		t.Fatalf("read %s: %v (generate it with UPDATE_GOLDEN=1 go test ./internal/lint -run TestRulesDoc)", rulesDoc, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with the rule registry; run UPDATE_GOLDEN=1 go test ./internal/lint -run TestRulesDoc", rulesDoc)
	}
	for _, r := range Rules() {
		if !strings.Contains(string(got), "### "+r.ID+"\n") {
			t.Errorf("%s has no section for %s", rulesDoc, r.ID)
		}
	}
}
