package migrations

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The history tables, fluxbase.schema_migrations for Fluxbase's own
// migrations (keyed by version) and fluxbase.user_migrations for the
// user's (keyed by file name), are read and summarised alike.

// record is one row of a history table.
type record struct {
	name, checksum string
	at             time.Time
}

// querier is a pool or one of its connections.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// readHistory reads fluxbase.<table> into a map keyed by its primary key
// column key.
func readHistory[K comparable](ctx context.Context, q querier, table, key string) (map[K]record, error) {
	rows, err := q.Query(ctx, `select `+pgx.Identifier{key}.Sanitize()+`, name, checksum, applied_at from `+
		pgx.Identifier{"fluxbase", table}.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("migrations: reading fluxbase.%s: %w", table, err)
	}
	defer rows.Close()
	out := map[K]record{}
	for rows.Next() {
		var k K
		var r record
		if err := rows.Scan(&k, &r.name, &r.checksum, &r.at); err != nil {
			return nil, err
		}
		out[k] = r
	}
	return out, rows.Err()
}

// historyIfExists is readHistory for status: a table not created yet is an
// empty history, and nothing is created.
func historyIfExists[K comparable](ctx context.Context, q querier, table, key string) (map[K]record, error) {
	ok, err := tableExists(ctx, q, table)
	if err != nil {
		return nil, err
	}
	if !ok {
		return map[K]record{}, nil
	}
	return readHistory[K](ctx, q, table, key)
}

// take removes key's record from history, so that what remains are the
// records of migrations no longer present, and says what it means for a
// migration whose checksum is now sum.
func take[K comparable](history map[K]record, key K, sum string) (applied bool, at time.Time, changed bool) {
	r, ok := history[key]
	if !ok {
		return false, time.Time{}, false
	}
	delete(history, key)
	return true, r.at, r.checksum != sum
}

// state is the one-word summary of a status row. stray is the word for a
// migration recorded as applied that is not present any more.
func state(applied, changed, strayed bool, stray string) string {
	switch {
	case strayed:
		return stray
	case changed:
		return "changed"
	case applied:
		return "applied"
	}
	return "pending"
}
