//go:build !unix

package realtime

// readable says yes: without a way to look at the socket, the reader
// waits in the read itself.
func readable(uintptr) bool { return true }
