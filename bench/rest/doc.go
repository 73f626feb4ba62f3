// Command rest benchmarks Fluxbase's REST engine against a baseline: a
// minimal Go HTTP handler that runs the equivalent hand-written SQL with
// pgx over a pool of the same size, on the same PostgreSQL, in the same
// run. It also measures the schema cache's load time on a 1000-table
// schema and how soon DDL becomes visible.
//
// Run it with `make bench-rest` (see docs/benchmarks.md). It needs only
// PostgreSQL's server binaries, which it starts in a temporary directory
// and removes at the end. It is a measuring tool: nothing in Fluxbase
// imports it.
package main
