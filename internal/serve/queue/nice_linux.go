package queue

import (
	"runtime"
	"syscall"
)

// lowerPriority pins the calling goroutine to its OS thread for good and raises that thread's
// nice value: on Linux nice is per thread, and the scanners a worker starts inherit it, so
// scans yield the CPU to acknowledging pushes and serving reads. The goroutine must not unlock:
// its thread ends with it instead of returning to the scheduler niced.
func lowerPriority(nice int) error {
	runtime.LockOSThread()
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
