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

// writeNow writes what the socket takes without waiting: all of p, or
// less when the kernel's buffer is full.
func writeNow(raw syscall.RawConn, p []byte) (n int, err error) {
	cerr := raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, e := writeNonblocking(fd, p[n:])
			switch {
			case errors.Is(e, syscall.EINTR):
				continue
			case errors.Is(e, syscall.EAGAIN):
				return true
			case e != nil:
				err = e
				return true
			}
			n += m
		}
		return true
	})
	if err == nil {
		err = cerr
	}
	return n, err
}
