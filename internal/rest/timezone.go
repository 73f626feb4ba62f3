package rest

import (
	"context"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// zoneNames is the set of pg_timezone_names, which Prefer: timezone= is
// checked against, as in PostgREST: a name PostgreSQL would reject never
// reaches set_config. The set is read on the first request that asks for a
// time zone and kept; a failed read is retried by the next one.
type zoneNames struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu    sync.Mutex
	names map[string]bool
}

// valid reports whether name is one of pg_timezone_names.
func (z *zoneNames) valid(ctx context.Context, name string) bool {
	if name == "" || z == nil || z.pool == nil {
		return false
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.names == nil {
		names, err := loadZoneNames(ctx, z.pool)
		if err != nil {
			z.log.Warn("could not read pg_timezone_names; Prefer: timezone is ignored", "error", err)
			return false
		}
		z.names = names
	}
	return z.names[name]
}

func loadZoneNames(ctx context.Context, pool *pgxpool.Pool) (map[string]bool, error) {
	rows, err := pool.Query(ctx, "select name from pg_catalog.pg_timezone_names")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names[n] = true
	}
	return names, rows.Err()
}
