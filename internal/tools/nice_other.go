//go:build !linux

package tools

// Nice is per process elsewhere: start runs tools at the caller's priority there.

func lowerThreadPriority(int) error { return nil }

func isMainThread() bool { return false }
