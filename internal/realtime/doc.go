// Package realtime delivers database changes, broadcast and presence to
// WebSocket clients. Changes come from a logical replication stream of one
// publication (fluxbase_realtime), through a temporary slot per instance;
// row level security decides which subscriber sees which change.
//
// It must not check permissions in Go: visibility is always asked of
// PostgreSQL under each subscriber's role and claims.
package realtime
