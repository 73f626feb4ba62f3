package pg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// Request is who is asking and what: the context a request transaction runs
// in, visible to SQL through current_setting and the auth.* helpers.
type Request struct {
	// Role is the database role to switch to: anon, authenticated,
	// service_role, or any other role granted to the authenticator.
	Role string
	// Claims is the verified JWT payload as a JSON object; nil means {}.
	Claims []byte
	// Method and Path of the HTTP request.
	Method, Path string
	// Headers is a JSON object of the request headers with lowercase
	// names; nil means {}.
	Headers []byte
	// ReadOnly makes the transaction READ ONLY (GET and HEAD).
	ReadOnly bool
}

// The settings a request transaction starts with, in one round trip. The
// legacy request.jwt.claim.* settings keep policies written for older
// PostgREST and Supabase versions working. Everything is local to the
// transaction (is_local = true), so nothing leaks into the next request on
// the same connection.
const (
	requestSetupColumns = `set_config('role', $1::text, true),
	set_config('request.jwt.claims', $2::text, true),
	set_config('request.jwt.claim.sub', coalesce(c.claims->>'sub', ''), true),
	set_config('request.jwt.claim.role', coalesce(c.claims->>'role', ''), true),
	set_config('request.jwt.claim.email', coalesce(c.claims->>'email', ''), true),
	set_config('request.method', $3::text, true),
	set_config('request.path', $4::text, true),
	set_config('request.headers', $5::text, true)`
	requestSetupFrom = ` from (select $2::text::jsonb as claims) c`

	requestSetupSQL        = `select ` + requestSetupColumns + requestSetupFrom
	requestSetupTimeoutSQL = `select ` + requestSetupColumns + `,
	set_config('statement_timeout', $6::text, true)` + requestSetupFrom
)

// beginRetryBudget bounds how long InRequestTx keeps retrying to start a
// transaction on a lost connection, e.g. right after PostgreSQL restarted.
const beginRetryBudget = 2 * time.Second

var roleNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// validRoleName accepts plain (unquoted-style) identifiers of at most 63
// bytes, PostgreSQL's limit.
func validRoleName(s string) bool {
	return len(s) <= 63 && roleNamePattern.MatchString(s)
}

// Tx is what a request transaction offers the code that runs in it:
// queries on the transaction's connection. Ending the transaction belongs
// to InRequestTx alone, so Tx has no Commit or Rollback; code that needs to
// undo part of its work uses savepoints.
type Tx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, rows pgx.CopyFromSource) (int64, error)
}

// InRequestTx runs fn in a transaction on the API pool that has switched to
// req.Role and published the request's claims, method, path and headers as
// transaction-local settings. It is the only way request code may use the
// API pool. Reads should set req.ReadOnly.
//
// BEGIN and the settings travel in one pipelined round trip, so a request
// transaction costs no more round trips than a bare one.
//
// The transaction commits when fn returns nil and rolls back when fn fails
// or panics (the panic continues). fn's error is returned unchanged; a
// commit that PostgreSQL turns into a rollback (fn ignored an error inside
// the transaction) returns pgx.ErrTxCommitRollback. Until fn starts nothing
// the client could observe has happened, so starting the transaction is
// retried briefly on connection errors; this is what lets requests recover
// by themselves after PostgreSQL restarts. A role that does not exist or
// cannot be switched to is reported as an *httpx.Error (401 or 403). Other
// errors are returned for ErrorFrom to map.
func (db *DB) InRequestTx(ctx context.Context, req Request, fn func(ctx context.Context, tx Tx) error) error {
	if db.API == nil {
		return errors.New("pg: InRequestTx called before ConnectAPI")
	}
	if !validRoleName(req.Role) {
		return &httpx.Error{Status: http.StatusUnauthorized, Code: "invalid_role",
			Message: fmt.Sprintf("%q is not a valid role name", req.Role)}
	}
	claims, headers := orEmptyObject(req.Claims), orEmptyObject(req.Headers)
	if !json.Valid(claims) {
		return errors.New("pg: request claims are not valid JSON")
	}
	if !json.Valid(headers) {
		return errors.New("pg: request headers are not valid JSON")
	}
	args := []any{req.Role, string(claims), req.Method, req.Path, string(headers)}
	query := requestSetupSQL
	if t := db.cfg.StatementTimeout; t > 0 {
		query = requestSetupTimeoutSQL
		args = append(args, strconv.FormatInt(max(t.Milliseconds(), 1), 10))
	}
	begin := "begin isolation level read committed read write"
	if req.ReadOnly {
		begin = "begin isolation level read committed read only"
	}

	conn, err := db.beginRequest(ctx, begin, query, args, req.Role)
	if err != nil {
		return err
	}
	// Release destroys the connection instead of pooling it if it is
	// still inside a transaction, whatever happened below.
	defer conn.Release()
	ended := false
	defer func() {
		// Also runs while fn panics; the panic then continues unchanged.
		if !ended {
			rollback(ctx, conn)
		}
	}()
	if err := fn(ctx, conn.Conn()); err != nil {
		return err
	}
	ended = true
	tag, err := conn.Exec(ctx, "commit")
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// beginRequest acquires a connection and starts the request transaction on
// it: BEGIN and the settings are queued in one batch, which pgx pipelines
// into one round trip (a BEGIN inside a pipeline turns its implicit
// transaction into an explicit one that outlives the batch).
func (db *DB) beginRequest(ctx context.Context, begin, query string, args []any, role string) (*pgxpool.Conn, error) {
	start := time.Now()
	backoff := 25 * time.Millisecond
	for {
		conn, err := db.API.Acquire(ctx)
		if err == nil {
			b := &pgx.Batch{}
			b.Queue(begin)
			b.Queue(query, args...)
			if err = conn.SendBatch(ctx, b).Close(); err == nil {
				return conn, nil
			}
			rollback(ctx, conn)
			conn.Release()
		}
		if re := roleError(err, role); re != nil {
			return nil, re
		}
		wait := jitter(backoff)
		if !IsConnectionError(err) || isClosedPool(err) || ctx.Err() != nil || time.Since(start)+wait > beginRetryBudget {
			return nil, err
		}
		db.log.Debug("retrying the start of a request transaction", "error", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
		backoff = min(backoff*2, 400*time.Millisecond)
	}
}

// roleError explains a failed switch to role; nil if err is something else.
func roleError(err error, role string) *httpx.Error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil
	}
	switch {
	case pe.Code == "22023" && isMissingRoleMessage(pe.Message):
		return &httpx.Error{Status: http.StatusUnauthorized, Code: pe.Code, Message: pe.Message,
			Hint: "the token's role claim must name an existing database role", Err: err}
	case pe.Code == "42501":
		status := http.StatusForbidden
		if role == AnonRole {
			status = http.StatusUnauthorized
		}
		return &httpx.Error{Status: status, Code: pe.Code, Message: pe.Message,
			Hint: fmt.Sprintf("the authenticator role must be granted %q to act as it", role), Err: err}
	}
	return nil
}

// rollback ends the transaction on conn even when ctx is already done. If
// it fails, the connection is left in its transaction and Release destroys
// it, which rolls back on the server.
func rollback(ctx context.Context, conn *pgxpool.Conn) {
	if conn.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(rctx, "rollback")
}

func orEmptyObject(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}
