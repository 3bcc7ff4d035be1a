//go:build !unix && !windows

package tools

import "os"

// tryLock reports that this OS has no file lock; Install then builds without one (concurrent
// builds still never leave a half binary: each builds into its own temp dir and renames).
func tryLock(*os.File) (bool, error) { return false, errLockUnsupported }

func unlockFile(*os.File) error { return nil }
