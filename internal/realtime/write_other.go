//go:build unix && !linux

package realtime

import "syscall"

// writeNonblocking is write(2) on a non-blocking descriptor.
func writeNonblocking(fd uintptr, p []byte) (int, error) {
	return syscall.Write(int(fd), p)
}
