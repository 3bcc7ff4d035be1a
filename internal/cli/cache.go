package cli

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// toolCacheDir is the tool cache dir of a run: --cache-dir, else tools.cache-dir, else the default.
func toolCacheDir(g *globalOpts, cfg *config.Config) string {
	switch {
	case g.cacheDir != "":
		return g.cacheDir
	case cfg != nil && cfg.Tools.CacheDir != "":
		return cfg.Tools.CacheDir
	}
	return tools.DefaultCacheDir()
}

// resultCache is the run's result cache, nil when tollgate.yaml turns it off.
func resultCache(g *globalOpts, cfg *config.Config) (*resultcache.Cache, error) {
	if !cfg.Cache.On() {
		return nil, nil
	}
	max, err := cfg.Cache.MaxBytes()
	if err != nil {
		return nil, err
	}
	return resultcache.New(resultcache.Dir(toolCacheDir(g, cfg)), resultcache.Options{MaxSize: max, Refresh: g.noCache}), nil
}

func newCacheCmd(g *globalOpts, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "cache", Short: "Manage the result cache (stage results reused while their inputs are unchanged)"}
	var dir, maxSize string
	var all bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Evict least recently used results down to cache.max-size (or --max-size); --all empties the cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(g, dir)
			if err != nil {
				return classify(err)
			}
			if maxSize != "" {
				cfg.Cache.MaxSize = maxSize
			}
			max, err := cfg.Cache.MaxBytes()
			if err != nil {
				return &exitError{code: model.ExitUsage, err: fmt.Errorf("--max-size: %w", err)}
			}
			if all {
				max = 0
			}
			c := resultcache.New(resultcache.Dir(toolCacheDir(g, cfg)), resultcache.Options{MaxSize: max})
			st, err := c.Prune(max)
			if err != nil {
				return &exitError{code: model.ExitTool, err: fmt.Errorf("prune %s: %w", c.Dir(), err)}
			}
			fmt.Fprintf(stdout, "%s: %d result(s), %s; removed %d (%s), %s left\n", c.Dir(), st.Entries,
				resultcache.FormatSize(st.Bytes), st.Removed, resultcache.FormatSize(st.Freed), resultcache.FormatSize(st.Bytes-st.Freed))
			return nil
		},
	}
	prune.Flags().StringVarP(&dir, "dir", "C", ".", "project directory (its tollgate.yaml gives cache.max-size)")
	prune.Flags().StringVar(&maxSize, "max-size", "", "size to prune down to, e.g. 200MB (default cache.max-size, 500MB)")
	prune.Flags().BoolVar(&all, "all", false, "remove every cached result")
	cmd.AddCommand(prune)
	cmd.AddCommand(&cobra.Command{
		Use:   "dir",
		Short: "Print the result cache directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(g, ".")
			if err != nil {
				return classify(err)
			}
			d, err := filepath.Abs(resultcache.Dir(toolCacheDir(g, cfg)))
			if err != nil {
				return &exitError{code: model.ExitTool, err: err}
			}
			fmt.Fprintln(stdout, d)
			return nil
		},
	})
	return cmd
}
