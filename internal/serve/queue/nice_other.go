//go:build !linux

package queue

// lowerPriority is a no-op where nice is not per thread.
func lowerPriority(int) error { return nil }
