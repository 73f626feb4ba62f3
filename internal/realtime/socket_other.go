//go:build !unix

package realtime

import "syscall"

// readable says yes: without a way to look at the socket, the reader
// waits in the read itself.
func readable(uintptr) bool { return true }

// writeNow writes nothing: without a way to write without waiting, every
// frame goes through the writer's backlog.
func writeNow(syscall.RawConn, []byte) (int, error) { return 0, nil }
