package cli

import (
	"io"

	"github.com/spf13/cobra"
)

// newSchemasCmd is wired to the schema generator by the validate stage.
func newSchemasCmd(g *globalOpts, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "schemas", Short: "Build offline Kubernetes JSON schemas for validation"}
	return cmd
}
