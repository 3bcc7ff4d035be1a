// Package gctune sets the garbage collector for a command-line run. Importing it is enough: its
// init runs before the heavy package initialisers of what the programs link (JSON Schema
// meta-schemas, Kubernetes API registrations), which otherwise collect several times at the
// default pace: about 2.5 ms of tollgate's 17 ms start (best of 30, issue 14).
//
// The pace: tollgate reads manifests and tools' output (kube-score's JSON lists every check of
// every object), and collecting at the default pace took about a tenth of `tollgate score`'s
// time on a 250-file tree (143 -> 124 ms and 133 -> 115 ms, best of 20, issue 14). A run's heap
// is small; collection still starts at 1 GiB whatever the pace. A GOGC or GOMEMLIMIT set by the
// user wins.
//
// It must stay free of imports beyond the standard library's smallest packages: Go initialises
// a package as soon as its imports are, in import-path order, so few imports mean an early init.
package gctune

import (
	"os"
	"runtime/debug"
)

func init() { Apply() }

// Apply sets the pace and the limit; for programs (and benchmarks) that do not import the
// package before the rest.
func Apply() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(400)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(1 << 30)
	}
}
