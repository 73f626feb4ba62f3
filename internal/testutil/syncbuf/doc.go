// Package syncbuf is a byte buffer that several goroutines may write to
// while a test reads it: the sink for logs and process output in tests.
//
// It is a leaf: it imports only the standard library, so that any test,
// including the internal tests of packages the harness itself depends on,
// can use it. Nothing here may be imported by non-test code.
package syncbuf
