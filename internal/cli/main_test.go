package cli

import (
	"os"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/tools"
)

// `tollgate run` in these tests runs validate and score for real: their pinned tools are built
// into the shared tool cache before the tests, outside the test timeout.
func TestMain(m *testing.M) {
	tools.EnsureForTests("kubeconform", "kube-score")
	os.Exit(m.Run())
}
