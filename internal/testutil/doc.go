// Package testutil is the test harness: one real PostgreSQL server for a
// whole `go test ./...` run, shared by the test processes of all packages,
// a template database migrated once per schema version, and a fresh clone
// of it per test (NewDB); plus helpers to run the server in-process for API
// tests.
//
// The server is the product's own embedded launcher, started detached in
// $TMPDIR/fluxbase-test-<uid>-<checkout> (or FLUXBASE_TEST_PG_DIR). Test processes
// coordinate with two flock files there: "control", held briefly to start,
// adopt or stop the server and to build the template, and "users", held
// shared by every process that uses the server. The process that leaves
// last stops it; a process killed mid-run only loses its locks, and the
// next run adopts the server and drops what was left behind.
//
// Nothing here may be imported by non-test code, and nothing here may stand
// in for PostgreSQL: tests run against the real server.
package testutil
