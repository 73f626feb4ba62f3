// Package pg is Fluxbase's access to PostgreSQL: the connection pools, the
// request transaction that sets role and JWT claims for row-level security,
// the mapping of PostgreSQL errors to HTTP errors, the start-up checks of an
// external server, and the embedded server that Fluxbase runs itself when no
// database URL is configured, with the instance lock that keeps two
// processes off one data directory.
//
// The embedded launcher runs the system's PostgreSQL binaries as a child
// process (as an unprivileged OS user when Fluxbase runs as root), restarts
// the server if it crashes, recovers what a killed predecessor left behind,
// and stops it so that no process of it remains.
//
// This package must not know about HTTP routing, identities or any
// subsystem's tables; it must not decide authorization, which belongs to
// row-level security in the database.
package pg
