// Package migrations applies versioned SQL to the database: Fluxbase's own
// schema (embedded in the binary, files sql/NNNN_name.sql) and the user's
// migrations (a directory of *.sql files).
//
// Both kinds run under one session-level advisory lock, each file in its own
// transaction together with its bookkeeping row, so any number of instances
// starting together apply every file exactly once. Applied files are recorded
// with a checksum; a file changed after it was applied is an error, never
// silently skipped or re-run.
//
// It owns the fluxbase.schema_migrations and fluxbase.user_migrations tables
// and the contents of sql/. It must not hold connections beyond a call, nor
// know about HTTP or configuration loading.
package migrations
