package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/discover"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func newInitCmd(stdout, stderr io.Writer) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a commented tollgate.yaml naming the Dockerfiles and manifests found in DIR (default: .)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return &exitError{code: model.ExitUsage, err: fmt.Errorf("project directory %s: not a readable directory", dir)}
			}
			dst := filepath.Join(dir, config.FileName)
			if _, err := os.Stat(dst); err == nil && !force {
				return &exitError{code: model.ExitUsage, err: fmt.Errorf("%s exists; pass --force to overwrite it", dst)}
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return &exitError{code: model.ExitUsage, err: fmt.Errorf("%s: %w", dst, err)}
			}
			res, err := discover.Discover(cmd.Context(), dir)
			if err != nil {
				return &exitError{code: model.ExitTool, err: err}
			}
			body := res.Config(dir)
			// What init writes must load with the same strict loader as any tollgate.yaml.
			if _, err := config.Parse(dst, body); err != nil {
				return &exitError{code: model.ExitTool, err: fmt.Errorf("internal error: the generated config does not load: %w", err)}
			}
			if err := os.WriteFile(dst, body, 0o644); err != nil {
				return &exitError{code: model.ExitTool, err: fmt.Errorf("write %s: %w", dst, err)}
			}
			fmt.Fprintf(stderr, "found %s\n", strings.Join(res.Summary(), "; "))
			fmt.Fprintf(stdout, "wrote %s\n", dst)
			if res.Empty() {
				fmt.Fprintln(stderr, "nothing checkable was found: edit the file to name your Dockerfiles, manifests or image")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing tollgate.yaml")
	return cmd
}
