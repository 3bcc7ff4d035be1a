package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

func newToolsCmd(g *globalOpts, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "tools", Short: "List or build the pinned external tools"}
	installer := func() *tools.Installer {
		dir := g.cacheDir
		if dir == "" {
			dir = tools.DefaultCacheDir()
		}
		return &tools.Installer{CacheDir: dir, AutoInstall: true, Progress: stderr}
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "Show every pinned tool, its image and whether it is installed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := installer()
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOOL\tVERSION\tIMAGE\tINSTALLED\tPATH")
			for _, t := range tools.All() {
				st := in.Check(t)
				state := "no"
				switch {
				case st.Installed:
					state = "yes"
				case st.Err != nil:
					state = "wrong: " + st.Err.Error()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Version, t.Image, state, st.Path)
			}
			return tw.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "install [NAME...]",
		Short: "Build pinned tools with `go install` into the cache (all when no NAME is given)",
		Long: `Build pinned tools from the Go module proxy into the tool cache and verify the version in
each binary's Go build info. Already installed tools are kept. trivy takes several minutes.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := installer()
			var list []tools.Tool
			if len(args) == 0 {
				list = tools.All()
			}
			for _, a := range args {
				t, err := tools.Get(a)
				if err != nil {
					return &exitError{code: model.ExitUsage, err: err}
				}
				list = append(list, t)
			}
			for _, t := range list {
				if st := in.Check(t); st.Installed {
					fmt.Fprintf(stderr, "%s %s already installed at %s\n", t.Name, t.Version, st.Path)
					continue
				}
				if err := in.Install(cmd.Context(), t); err != nil {
					return &exitError{code: model.ExitTool, err: err}
				}
			}
			return nil
		},
	})
	return cmd
}
