package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/schemas"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

func newSchemasCmd(g *globalOpts, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "schemas", Short: "Build offline Kubernetes JSON schemas for validation"}
	var version, swagger string
	build := &cobra.Command{
		Use:   "build",
		Args:  cobra.NoArgs,
		Short: "Generate kubeconform schemas for a Kubernetes version from the k8s.io/kubernetes module's OpenAPI spec",
		Long: `Generate kubeconform-layout JSON schemas (standalone and standalone-strict) for one Kubernetes
version from the OpenAPI spec inside the k8s.io/kubernetes Go module, fetched through the Go module
proxy. The result is cached in <cache-dir>/schemas/VERSION and printed. On an air-gapped machine,
copy that directory into the cache or name it in validate.schema-locations.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !schemas.ValidVersion(version) {
				return &exitError{code: model.ExitUsage, err: fmt.Errorf("--k8s-version %q: want MAJOR.MINOR.PATCH, e.g. 1.36.0", version)}
			}
			cache := g.cacheDir
			if cache == "" {
				cache = tools.DefaultCacheDir()
			}
			dir, err := schemas.Build(cmd.Context(), schemas.Options{K8sVersion: version, CacheDir: cache, Swagger: swagger,
				Progress: func(s string) { fmt.Fprintln(stderr, s) }})
			if err != nil {
				return classify(err)
			}
			fmt.Fprintln(stdout, dir)
			return nil
		},
	}
	build.Flags().StringVar(&version, "k8s-version", "1.36.0", "Kubernetes version (MAJOR.MINOR.PATCH)")
	build.Flags().StringVar(&swagger, "swagger", "", "convert this swagger.json instead of fetching k8s.io/kubernetes (air-gapped)")
	cmd.AddCommand(build)
	return cmd
}
