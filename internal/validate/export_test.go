package validate

import "testing"

// Hooks for the external CLI tests (package validate_test), which cannot live in this package:
// the CLI imports the pipeline, which imports this package.

// SharedCacheDir builds the schemas once and returns the cache dir holding them and the tools.
func SharedCacheDir(t *testing.T) string {
	builtinSchemas(t)
	kubeconform(t)
	return cacheRoot
}

// Fixtures is the fixtures/manifests dir.
func Fixtures(t *testing.T) string { return fixtures(t) }

// Expectations reads a fixture's `# expect: RULE` marks.
func Expectations(t *testing.T, root, rel string) []string { return expectations(t, root, rel) }
