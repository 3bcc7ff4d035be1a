package sbom

import (
	"os"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/tools"
)

// The pinned syft is built into the shared tool cache before the tests, outside their timeout.
func TestMain(m *testing.M) {
	tools.EnsureForTests("syft")
	os.Exit(m.Run())
}
