package migrations

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LockKey is the pg_advisory_lock key held while migrations run. Advisory
// locks are per database, so instances using different databases of one
// cluster do not wait for each other.
const LockKey int64 = 0x466c7578_00000001

// bookkeepingSQL creates the history tables. It runs under the lock, so
// IF NOT EXISTS cannot race with another instance doing the same.
const bookkeepingSQL = `
create schema if not exists fluxbase;
revoke all on schema fluxbase from public;
create table if not exists fluxbase.schema_migrations (
  version    integer primary key,
  name       text not null,
  checksum   text not null,
  applied_at timestamptz not null default now()
);
create table if not exists fluxbase.user_migrations (
  name       text primary key,
  checksum   text not null,
  applied_at timestamptz not null default now()
);`

// withLock runs fn on one dedicated connection that holds the migrations
// lock, with the bookkeeping tables in place.
func withLock(ctx context.Context, pool *pgxpool.Pool, fn func(conn *pgx.Conn) error) (err error) {
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrations: cannot get a connection: %w", err)
	}
	defer pc.Release()
	conn := pc.Conn()
	if _, err := conn.Exec(ctx, `select pg_advisory_lock($1)`, LockKey); err != nil {
		return fmt.Errorf("migrations: cannot take the migration lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `select pg_advisory_unlock($1)`, LockKey); uerr != nil {
			// Closing the session is what releases the lock then.
			_ = conn.Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, bookkeepingSQL); err != nil {
		return fmt.Errorf("migrations: cannot create the migration history tables: %w", err)
	}
	return fn(conn)
}

// applyFile runs sql and records it in the same transaction. record is a
// statement with its arguments.
func applyFile(ctx context.Context, conn *pgx.Conn, sql string, record string, args ...any) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	// No arguments: the simple protocol, which allows several statements.
	if _, err := tx.Exec(ctx, sql); err != nil {
		return err
	}
	if conn.PgConn().TxStatus() != 'T' {
		return errors.New("the file ended the migration's transaction itself (COMMIT or ROLLBACK); statements before that may have been committed. Remove transaction control from migration files")
	}
	if _, err := tx.Exec(ctx, record, args...); err != nil {
		return fmt.Errorf("recording the migration: %w", err)
	}
	return tx.Commit(ctx)
}

func checksum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// tableExists reports whether fluxbase.<name> exists, so that status can be
// read without creating anything.
func tableExists(ctx context.Context, q querier, name string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `select to_regclass($1) is not null`, "fluxbase."+name).Scan(&ok)
	return ok, err
}
