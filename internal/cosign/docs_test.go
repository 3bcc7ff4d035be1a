package cosign

import (
	"os"
	"strings"
	"testing"
)

// docs/signing.md documents every rule with its severity, under the anchor the rule's URL names.
func TestRulesDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/signing.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range Rules() {
		anchor := strings.ToLower(r.ID)
		row := "| <a id=\"" + anchor + "\"></a>`" + r.ID + "` | " + r.Severity.String() + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/signing.md lacks the row %q", row)
		}
		if !strings.HasSuffix(r.URL, "docs/signing.md#"+anchor) {
			t.Errorf("%s: URL %s does not point at its anchor", r.ID, r.URL)
		}
	}
}
