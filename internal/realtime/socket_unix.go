//go:build unix

package realtime

import (
	"errors"
	"syscall"
)

// readable reports whether the socket has data (or an end or an error)
// to read, looking without consuming it; false makes RawConn.Read wait
// for the descriptor to become readable and ask again.
func readable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return false
		}
		return true
	}
}
