package pg

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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
	// LegacyClaims, when Known, are Claims' sub, role and email as the
	// request.jwt.claim.* settings hold them, from a caller that has the
	// claims decoded already (identity.PGRequest); they spare decoding
	// Claims again for every request. They must agree with Claims.
	LegacyClaims LegacyClaims
	// Method and Path of the HTTP request.
	Method, Path string
	// Headers is a JSON object of the request headers with lowercase
	// names; nil means {}.
	Headers []byte
	// Cookies is a JSON object of the request's cookies, name to value;
	// nil means {}.
	Cookies []byte
	// HeadersValid promises that Headers and Cookies are valid JSON,
	// because the caller encoded them itself (identity.PGRequest does); it
	// spares scanning the headers, tokens included, once more on every
	// request.
	HeadersValid bool
	// ReadOnly makes the transaction READ ONLY (GET and HEAD).
	ReadOnly bool
	// StatementTimeout, when positive, is this transaction's
	// statement_timeout (a per-role limit, say), replacing the pool's
	// database.statement_timeout; when negative, the transaction has no
	// statement timeout at all; zero keeps the pool's. It is set by the
	// same statement that sets the role, so it costs no round trip.
	StatementTimeout time.Duration
	// TimeZone, when not empty, is this transaction's TimeZone setting
	// (PostgREST's Prefer: timezone). PostgreSQL checks the name; the
	// caller should pass only names of pg_timezone_names.
	TimeZone string
	// SearchPath, when not empty, is this transaction's search_path, as
	// PostgREST sets it for a request to a schema other than the
	// connection's: that schema, then public.
	SearchPath string
	// PreRequest, when not empty, is a function (its quoted, qualified
	// name) that QueryInRequestTx calls after the settings and before the
	// statement, in the same transaction and round trip, as the request's
	// role: PostgREST's db-pre-request. Its error ends the request.
	PreRequest string
}

// legacyMode says whether and how the settings statement sets the legacy
// request.jwt.claim.sub, .role and .email settings.
type legacyMode int

const (
	// legacyNone sets none of them, as PostgREST does on PostgreSQL 14 and
	// later: policies read request.jwt.claims (auth.uid() and its
	// siblings do).
	legacyNone legacyMode = iota
	// legacyArgs sets them from parameters that Go extracted from the
	// claims, when those are plain strings.
	legacyArgs
	// legacyJSON has PostgreSQL extract them from the claims as jsonb.
	legacyJSON
	legacyModes
)

// setupSQL is the statement that sets what a request transaction runs
// with, in one round trip: role, claims, method, path, headers and
// cookies, the legacy claim settings when database.legacy_claim_settings
// asks for them, and optionally the statement timeout and (for a read in
// an implicit transaction) transaction_read_only. Everything is local to the
// transaction (is_local = true), so nothing leaks into the next request on
// the same connection.
func setupSQL(legacy legacyMode, timeout, readOnly bool) string {
	var b strings.Builder
	b.WriteString(`select set_config('role', $1::text, true),
	set_config('request.jwt.claims', $2::text, true),`)
	next := 7
	switch legacy {
	case legacyArgs:
		b.WriteString(`
	set_config('request.jwt.claim.sub', $7::text, true),
	set_config('request.jwt.claim.role', $8::text, true),
	set_config('request.jwt.claim.email', $9::text, true),`)
		next = 10
	case legacyJSON:
		b.WriteString(`
	set_config('request.jwt.claim.sub', coalesce(c.claims->>'sub', ''), true),
	set_config('request.jwt.claim.role', coalesce(c.claims->>'role', ''), true),
	set_config('request.jwt.claim.email', coalesce(c.claims->>'email', ''), true),`)
	}
	b.WriteString(`
	set_config('request.method', $3::text, true),
	set_config('request.path', $4::text, true),
	set_config('request.headers', $5::text, true),
	set_config('request.cookies', $6::text, true)`)
	if timeout {
		fmt.Fprintf(&b, `,
	set_config('statement_timeout', $%d::text, true)`, next)
	}
	if readOnly {
		// A read pipelined without BEGIN runs in the implicit transaction
		// that the extended protocol keeps open until Sync.
		b.WriteString(`,
	set_config('transaction_read_only', 'on', true)`)
	}
	if legacy == legacyJSON {
		b.WriteString(` from (select $2::text::jsonb as claims) c`)
	}
	return b.String()
}

// setupSQLs holds setupSQL for every combination of its arguments, indexed
// by setupIndex, so that each request picks one instead of building it.
var setupSQLs = func() (all [int(legacyModes) * 4]string) {
	for l := range legacyModes {
		for _, timeout := range []bool{false, true} {
			for _, readOnly := range []bool{false, true} {
				all[setupIndex(l, timeout, readOnly)] = setupSQL(l, timeout, readOnly)
			}
		}
	}
	return all
}()

func setupIndex(legacy legacyMode, timeout, readOnly bool) int {
	i := int(legacy) * 4
	if timeout {
		i |= 1
	}
	if readOnly {
		i |= 2
	}
	return i
}

// LegacyClaims are the sub, role and email claims as the legacy
// request.jwt.claim.* settings hold them: the claim's text, or empty when it
// is null or absent. Known is false when any of them is something else than
// a string, null or absent (PostgreSQL then extracts them from the claims).
type LegacyClaims struct {
	Sub, Role, Email string
	Known            bool
}

// LegacyClaimsOf returns the sub, role and email claims of decoded claims
// as the legacy settings hold them (the claim's text, or empty when it is
// null or absent); Known is false when any of them is something else.
func LegacyClaimsOf(claims map[string]any) LegacyClaims {
	var out [3]string
	for i, k := range [3]string{"sub", "role", "email"} {
		switch v := claims[k].(type) {
		case nil:
		case string:
			out[i] = v
		default:
			return LegacyClaims{}
		}
	}
	return LegacyClaims{Sub: out[0], Role: out[1], Email: out[2], Known: true}
}

// legacyClaims is LegacyClaimsOf for claims as JSON, not known when they
// are not a JSON object (PostgreSQL then extracts them itself).
func legacyClaims(claims []byte) LegacyClaims {
	var m map[string]any
	if err := json.Unmarshal(claims, &m); err != nil || m == nil {
		return LegacyClaims{}
	}
	return LegacyClaimsOf(m)
}

// beginRetryBudget bounds how long InRequestTx keeps retrying to start a
// transaction on a lost connection, e.g. right after PostgreSQL restarted.
const beginRetryBudget = 2 * time.Second

// startRetry paces the retries of a request transaction that could not
// start because its connection was lost: backoff doubling from 25 ms to
// 400 ms, with jitter, within beginRetryBudget.
type startRetry struct {
	start   time.Time
	backoff time.Duration
}

func newStartRetry() startRetry {
	return startRetry{start: time.Now(), backoff: 25 * time.Millisecond}
}

// wait waits before the next attempt after err and reports whether there
// is one: only a lost connection is retried, never after ctx ends or the
// pool closed, and never beyond the budget.
func (r *startRetry) wait(ctx context.Context, db *DB, err error, what string) bool {
	wait := jitter(r.backoff)
	if !IsConnectionError(err) || isClosedPool(err) || ctx.Err() != nil || time.Since(r.start)+wait > beginRetryBudget {
		return false
	}
	db.log.Debug("retrying "+what, "error", err, "retry_in", wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	r.backoff = min(r.backoff*2, 400*time.Millisecond)
	return true
}

// validRoleName accepts plain (unquoted-style) identifiers of at most 63
// bytes, PostgreSQL's limit.
func validRoleName(s string) bool {
	// ^[A-Za-z_][A-Za-z0-9_$]*$, checked by hand: it runs for every
	// request, and a regular expression costs more than the rest of
	// building the settings.
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case i > 0 && ('0' <= c && c <= '9' || c == '$'):
		default:
			return false
		}
	}
	return true
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
	setup, err := db.requestSetup(req)
	if err != nil {
		return err
	}
	conn, _, err := db.beginRequest(ctx, setup, nil)
	if err != nil {
		return err
	}
	// Release destroys the connection instead of pooling it if it is
	// still inside a transaction, whatever happened below.
	defer conn.Release()
	return finishRequest(ctx, conn, fn)
}

// finishRequest runs fn in the transaction open on conn and ends it:
// COMMIT when fn returns nil, ROLLBACK otherwise (also when fn panics).
func finishRequest(ctx context.Context, conn *pgxpool.Conn, fn func(ctx context.Context, tx Tx) error) error {
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
	return commit(ctx, conn)
}

func commit(ctx context.Context, conn *pgxpool.Conn) error {
	tag, err := conn.Exec(ctx, "commit")
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// QueryInRequestTx runs one statement in a request transaction (see
// InRequestTx for the role, the settings, the retries and the errors) with
// as few round trips as the protocol allows. fn reads the statement's rows;
// its error, or else the rows' error, is returned.
//
// A ReadOnly request is one round trip: the settings (with
// transaction_read_only) and the statement are pipelined without BEGIN, so
// they share the implicit transaction the extended protocol keeps open
// until Sync, which ends it: committed if the statement succeeded, rolled
// back if it failed. fn runs after that end, so its error cannot undo
// anything; none is needed, because a READ ONLY transaction cannot change
// data (only side effects that escape read-only mode, such as pg_notify
// called by a function, are delivered even when fn then fails). The
// isolation level is the server's default_transaction_isolation (READ
// COMMITTED unless changed), the same for a single statement.
//
// A write is two round trips: BEGIN, the settings and the statement are
// pipelined, and then COMMIT when fn returns nil, or ROLLBACK.
//
// A statement that this connection has not prepared yet must be parsed
// under the request's role (parsing checks, for one, USAGE on schemas), so
// when it cannot be prepared ahead of the pipeline it runs in a second step
// of an explicit transaction instead, costing a round trip or two once per
// connection and statement.
func (db *DB) QueryInRequestTx(ctx context.Context, req Request, sql string, args []any, fn func(rows pgx.Rows) error) error {
	setup, err := db.requestSetup(req)
	if err != nil {
		return err
	}
	pipelined := setup
	pre := ""
	if req.PreRequest != "" {
		pre = "select " + req.PreRequest + "()"
	}
	if req.ReadOnly {
		pipelined.begin = ""
		pipelined.query = setup.withExtras(setupSQLs[setupIndex(setup.legacy, setup.timeout, true)])
		// The read path sends two statements; a pre-request function
		// makes three, which the general path below pipelines as well.
		if pre == "" {
			if err := db.queryRead(ctx, pipelined, sql, args, fn); !errors.Is(err, errPrepareQuery) {
				return err
			}
		}
	}
	conn, br, err := db.beginRequest(ctx, pipelined, func(b *pgx.Batch) {
		if pre != "" {
			b.Queue(pre)
		}
		b.Queue(sql, args...)
	})
	if err != nil {
		var pb pgx.ErrPreprocessingBatch
		if !errors.As(err, &pb) || (pb.SQL() != sql && pb.SQL() != pre) {
			return err
		}
		// Preparing a statement as the authenticator failed; nothing
		// ran. Prepare and run them inside the transaction instead.
		if conn, _, err = db.beginRequest(ctx, setup, nil); err != nil {
			return err
		}
		defer conn.Release()
		return finishRequest(ctx, conn, func(ctx context.Context, tx Tx) error {
			if pre != "" {
				if _, err := tx.Exec(ctx, pre); err != nil {
					return err
				}
			}
			rows, err := tx.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			return readRows(rows, fn)
		})
	}
	defer conn.Release()
	ended := false
	defer func() {
		if !ended {
			_ = br.Close()
			rollback(ctx, conn)
		}
	}()
	if pre != "" {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	if err := readRows(rows, fn); err != nil {
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}
	ended = true
	if req.ReadOnly {
		// Sync ended the implicit transaction.
		return nil
	}
	return commit(ctx, conn)
}

// readRows hands rows to fn and reports fn's error or else the rows'.
func readRows(rows pgx.Rows, fn func(pgx.Rows) error) error {
	defer rows.Close()
	if err := fn(rows); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// requestSetupStmt is how a request transaction starts: BEGIN and the
// statement setting role, claims and the rest.
type requestSetupStmt struct {
	begin, query string
	vals         setupValues
	role         string
	// What query sets besides the basics (see setupSQL).
	legacy  legacyMode
	timeout bool
	// timeZoneArg and searchPathArg are the parameter numbers of the
	// TimeZone and the search_path, 0 for none.
	timeZoneArg, searchPathArg int
}

// setupValues are the settings statement's parameters, kept as the
// strings and bytes they are: the read path sends them as text without
// boxing each in an interface (see readStmts.textParams), and only pgx's
// batch, for writes, needs them as []any.
type setupValues struct {
	// $1 to $6.
	role             string
	claims           []byte
	method, path     string
	headers, cookies []byte
	// The legacy claims (sub, role, email), then the statement timeout,
	// then the TimeZone and the search_path, each only when the statement
	// has its parameter; n counts them.
	more [6]string
	n    int
}

func (v *setupValues) add(s string) {
	v.more[v.n] = s
	v.n++
}

// count is the number of parameters.
func (v *setupValues) count() int { return 6 + v.n }

// args are the parameters in order, for pgx.
func (v *setupValues) args() []any {
	args := make([]any, 0, v.count())
	args = append(args, v.role, v.claims, v.method, v.path, v.headers, v.cookies)
	for _, s := range v.more[:v.n] {
		args = append(args, s)
	}
	return args
}

// withExtras adds the TimeZone and search_path settings to a setup
// statement when the request has them. They are rare, so the statement is
// built here rather than kept among setupSQLs.
func (st requestSetupStmt) withExtras(query string) string {
	if st.timeZoneArg == 0 && st.searchPathArg == 0 {
		return query
	}
	extra := "select"
	if st.timeZoneArg != 0 {
		extra += " set_config('timezone', $" + strconv.Itoa(st.timeZoneArg) + "::text, true),"
	}
	if st.searchPathArg != 0 {
		extra += " set_config('search_path', $" + strconv.Itoa(st.searchPathArg) + "::text, true),"
	}
	return extra + strings.TrimPrefix(query, "select")
}

func (db *DB) requestSetup(req Request) (requestSetupStmt, error) {
	if db.API == nil {
		return requestSetupStmt{}, errors.New("pg: InRequestTx called before ConnectAPI")
	}
	if !validRoleName(req.Role) {
		return requestSetupStmt{}, &httpx.Error{Status: http.StatusUnauthorized, Code: "invalid_role",
			Message: fmt.Sprintf("%q is not a valid role name", req.Role)}
	}
	claims, headers, cookies := orEmptyObject(req.Claims), orEmptyObject(req.Headers), orEmptyObject(req.Cookies)
	// Claims that legacyClaims decoded here are known to be valid JSON;
	// any others are checked.
	legacy, decoded := legacyNone, false
	var lc LegacyClaims
	if db.cfg.LegacyClaimSettings {
		if lc = req.LegacyClaims; !lc.Known {
			lc = legacyClaims(claims)
			decoded = lc.Known
		}
		legacy = legacyJSON
		if lc.Known {
			legacy = legacyArgs
		}
	}
	if !decoded && !json.Valid(claims) {
		return requestSetupStmt{}, errors.New("pg: request claims are not valid JSON")
	}
	if !req.HeadersValid && (!json.Valid(headers) || !json.Valid(cookies)) {
		return requestSetupStmt{}, errors.New("pg: request headers or cookies are not valid JSON")
	}
	st := requestSetupStmt{
		begin:  "begin isolation level read committed read write",
		role:   req.Role,
		legacy: legacy,
		// The JSON goes as the bytes it is (text parameters take []byte),
		// sparing a copy of each per request.
		vals: setupValues{role: req.Role, claims: claims, method: req.Method, path: req.Path, headers: headers, cookies: cookies},
	}
	if legacy == legacyArgs {
		st.vals.add(lc.Sub)
		st.vals.add(lc.Role)
		st.vals.add(lc.Email)
	}
	timeout := ""
	switch t := cmp.Or(req.StatementTimeout, db.cfg.StatementTimeout); {
	case t > 0:
		timeout = strconv.FormatInt(max(t.Milliseconds(), 1), 10)
	case t < 0:
		timeout = "0" // PostgreSQL's "no limit"
	}
	if timeout != "" {
		st.timeout = true
		st.vals.add(timeout)
	}
	if req.TimeZone != "" {
		st.vals.add(req.TimeZone)
		st.timeZoneArg = st.vals.count()
	}
	if req.SearchPath != "" {
		st.vals.add(req.SearchPath)
		st.searchPathArg = st.vals.count()
	}
	st.query = st.withExtras(setupSQLs[setupIndex(legacy, st.timeout, false)])
	if req.ReadOnly {
		st.begin = "begin isolation level read committed read only"
	}
	return st, nil
}

// beginRequest acquires a connection and starts the request transaction on
// it: BEGIN (unless st.begin is empty: an implicit transaction) and the
// settings are queued in one batch, which pgx pipelines
// into one round trip (a BEGIN inside a pipeline turns its implicit
// transaction into an explicit one that outlives the batch). more, when
// given, queues further statements into the same batch; their results are
// then left to read from the returned BatchResults, which the caller must
// close. Without more, the BatchResults is nil.
func (db *DB) beginRequest(ctx context.Context, st requestSetupStmt, more func(*pgx.Batch)) (*pgxpool.Conn, pgx.BatchResults, error) {
	retry := newStartRetry()
	for {
		conn, err := db.API.Acquire(ctx)
		if err == nil {
			b := &pgx.Batch{}
			if st.begin != "" {
				b.Queue(st.begin)
			}
			b.Queue(st.query, st.vals.args()...)
			if more != nil {
				more(b)
			}
			br := conn.SendBatch(ctx, b)
			if st.begin != "" {
				_, err = br.Exec()
			}
			if err == nil {
				_, err = br.Exec()
			}
			if err == nil && more != nil {
				return conn, br, nil
			}
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				return conn, nil, nil
			}
			rollback(ctx, conn)
			conn.Release()
		}
		var pb pgx.ErrPreprocessingBatch
		if errors.As(err, &pb) && pb.SQL() != st.query && (st.begin == "" || pb.SQL() != st.begin) && !IsConnectionError(err) {
			// A statement queued by more failed to prepare: the caller's.
			return nil, nil, err
		}
		if re := roleError(err, st.role); re != nil {
			return nil, nil, re
		}
		if !retry.wait(ctx, db, err, "the start of a request transaction") {
			return nil, nil, err
		}
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
