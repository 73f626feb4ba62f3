package pg

import (
	"container/list"
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A read request (QueryInRequestTx with ReadOnly) is the hot path of the
// REST API. It goes to pgconn directly: the settings statement and the
// request's statement, both prepared on the connection, are sent as one
// pgconn batch (Bind/Execute twice, then Sync) and the result is read with
// pgx's row scanning. That is the protocol exchange pgx's batch makes, but
// without its per-request pipeline bookkeeping, which allocates several
// list elements and closures per statement.

// connStmtsKey is where a connection's readStmts live in its CustomData.
const connStmtsKey = "fluxbase.pg.readStmts"

// readStmtCapacity bounds the statements prepared per connection for reads;
// the least recently used one is deallocated to make room. The settings
// statements take a handful of entries; the rest are the request shapes
// clients actually send.
const readStmtCapacity = 256

// unpreparableCapacity bounds the statements remembered as impossible to
// prepare as the authenticator (see QueryInRequestTx); when full it is
// emptied.
const unpreparableCapacity = 256

// readStmts are the statements a connection has prepared for reads, most
// recently used first. A connection is used by one request at a time, so
// it needs no lock.
type readStmts struct {
	bySQL        map[string]*list.Element // of *readStmt
	lru          list.List
	seq          uint64
	unpreparable map[string]struct{}
	eqb          pgx.ExtendedQueryBuilder
	// setupParams and setupText hold the settings statement's parameters
	// between building a batch and sending it.
	setupParams [][]byte
	setupText   []byte
	// tracer is the connection's tracer, when it traces batches: the
	// batch is reported to it as pgx would report its own.
	tracer pgx.BatchTracer
}

type readStmt struct {
	sql string
	sd  *pgconn.StatementDescription
}

func stmtsOf(c *pgx.Conn) *readStmts {
	data := c.PgConn().CustomData()
	if s, ok := data[connStmtsKey].(*readStmts); ok {
		return s
	}
	s := &readStmts{bySQL: map[string]*list.Element{}, unpreparable: map[string]struct{}{}}
	// Config copies the configuration, so it is read once per connection.
	s.tracer, _ = c.Config().Tracer.(pgx.BatchTracer)
	data[connStmtsKey] = s
	return s
}

// prepared returns the description of sql prepared on pc, preparing it
// (as whatever role the session has, the authenticator) when needed.
func (s *readStmts) prepared(ctx context.Context, pc *pgconn.PgConn, sql string) (*pgconn.StatementDescription, error) {
	if e, ok := s.bySQL[sql]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*readStmt).sd, nil
	}
	if s.lru.Len() >= readStmtCapacity {
		if err := s.evict(ctx, pc, s.lru.Back()); err != nil {
			return nil, err
		}
	}
	s.seq++
	sd, err := pc.Prepare(ctx, "fluxbase_read_"+strconv.FormatUint(s.seq, 10), sql, nil)
	if err != nil {
		return nil, err
	}
	s.bySQL[sql] = s.lru.PushFront(&readStmt{sql: sql, sd: sd})
	return sd, nil
}

// evict deallocates the statement of e and forgets it.
func (s *readStmts) evict(ctx context.Context, pc *pgconn.PgConn, e *list.Element) error {
	st := e.Value.(*readStmt)
	s.lru.Remove(e)
	delete(s.bySQL, st.sql)
	return pc.Deallocate(ctx, st.sd.Name)
}

// forget drops sql's statement after it failed, as pgx does with its own
// statement cache: the failure may come from the statement itself (a
// table changed under it), and the next use prepares it afresh.
func (s *readStmts) forget(ctx context.Context, pc *pgconn.PgConn, sql string) {
	e, ok := s.bySQL[sql]
	if !ok {
		return
	}
	if pc.IsClosed() || pc.TxStatus() != 'I' {
		// The connection is not reused (Release destroys it), and with it
		// go its statements.
		s.lru.Remove(e)
		delete(s.bySQL, sql)
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.evict(dctx, pc, e)
}

func (s *readStmts) markUnpreparable(sql string) {
	if len(s.unpreparable) >= unpreparableCapacity {
		clear(s.unpreparable)
	}
	s.unpreparable[sql] = struct{}{}
}

// errPrepareQuery reports that the request's statement cannot be prepared
// as the authenticator; nothing has run.
var errPrepareQuery = errors.New("pg: the statement cannot be prepared ahead of the request transaction")

// queryRead runs a read request (see QueryInRequestTx) in one round trip
// on pgconn. It returns errPrepareQuery when sql must be prepared inside
// the transaction instead, which the caller's general path does.
func (db *DB) queryRead(ctx context.Context, st requestSetupStmt, sql string, args []any, fn func(rows pgx.Rows) error) error {
	retry := newStartRetry()
	for {
		conn, err := db.API.Acquire(ctx)
		if err == nil {
			var sent bool
			sent, err = runReleasing(ctx, conn, st, sql, args, fn)
			if err == nil || sent {
				// Once the statement ran, its outcome is the caller's.
				return err
			}
		}
		if errors.Is(err, errPrepareQuery) {
			return err
		}
		if re := roleError(err, st.role); re != nil {
			return re
		}
		if !retry.wait(ctx, db, err, "a read request transaction") {
			return err
		}
	}
}

// runReleasing is runRead that releases conn afterwards, also when fn
// panics (Release destroys a connection that is not idle).
func runReleasing(ctx context.Context, conn *pgxpool.Conn, st requestSetupStmt, sql string, args []any, fn func(rows pgx.Rows) error) (bool, error) {
	defer conn.Release()
	return runRead(ctx, conn, st, sql, args, fn)
}

// runRead sends the settings and the statement on conn and hands the
// statement's rows to fn. sent reports whether fn was called, after which
// the request must not be retried.
func runRead(ctx context.Context, conn *pgxpool.Conn, st requestSetupStmt, sql string, args []any, fn func(rows pgx.Rows) error) (sent bool, err error) {
	c := conn.Conn()
	pc := c.PgConn()
	stmts := stmtsOf(c)
	if _, ok := stmts.unpreparable[sql]; ok {
		return false, errPrepareQuery
	}
	setupSD, err := stmts.prepared(ctx, pc, st.query)
	if err != nil {
		return false, err
	}
	querySD, err := stmts.prepared(ctx, pc, sql)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && !IsConnectionError(err) {
			stmts.markUnpreparable(sql)
			return false, errPrepareQuery
		}
		return false, err
	}
	m := c.TypeMap()
	batch := &pgconn.Batch{}
	if params, ok := stmts.textParams(setupSD, &st.vals); ok {
		// Text format, nothing to plan: all parameters and results are
		// text (no format codes means text).
		batch.ExecStatement(setupSD, params, nil, nil)
	} else {
		if err := stmts.eqb.Build(m, setupSD, st.vals.args()); err != nil {
			return false, err
		}
		batch.ExecStatement(setupSD, stmts.eqb.ParamValues, stmts.eqb.ParamFormats, stmts.eqb.ResultFormats)
	}
	if err := stmts.eqb.Build(m, querySD, args); err != nil {
		return false, err
	}
	batch.ExecStatement(querySD, stmts.eqb.ParamValues, stmts.eqb.ParamFormats, stmts.eqb.ResultFormats)

	if stmts.tracer != nil {
		ctx = traceRead(ctx, stmts.tracer, c, st, sql, args)
	}
	mrr := pc.ExecBatch(ctx, batch)
	failed := ""
	var setupTag, queryTag pgconn.CommandTag
	var setupErr, queryErr error
	if stmts.tracer != nil {
		defer func() {
			stmts.tracer.TraceBatchQuery(ctx, c, pgx.TraceBatchQueryData{SQL: st.query, Args: st.vals.args(), CommandTag: setupTag, Err: setupErr})
			if sent {
				stmts.tracer.TraceBatchQuery(ctx, c, pgx.TraceBatchQueryData{SQL: sql, Args: args, CommandTag: queryTag, Err: queryErr})
			}
			stmts.tracer.TraceBatchEnd(ctx, c, pgx.TraceBatchEndData{Err: err})
		}()
	}
	defer func() {
		// Reads to ReadyForQuery, so that the connection is idle again
		// (or closed, and then destroyed by Release).
		if cerr := mrr.Close(); err == nil {
			err = cerr
		}
		if failed != "" {
			stmts.forget(ctx, pc, failed)
		}
	}()
	// fail notes which prepared statement to forget when err says it no
	// longer fits the database.
	fail := func(stmt string, err error) error {
		if staleStatement(err) {
			failed = stmt
		}
		return err
	}
	if !mrr.NextResult() {
		// PostgreSQL refused the Bind (a statement it must analyse again
		// failed to), or the connection failed.
		return false, fail(st.query, mrr.Close())
	}
	if setupTag, setupErr = mrr.ResultReader().Close(); setupErr != nil {
		return false, fail(st.query, setupErr)
	}
	// The settings are in force: from here on the statement may have run,
	// so the request is not retried, as in the general path.
	if !mrr.NextResult() {
		return true, fail(sql, mrr.Close())
	}
	rows := pgx.RowsFromResultReader(m, mrr.ResultReader())
	defer func() {
		rows.Close()
		queryTag, queryErr = rows.CommandTag(), rows.Err()
	}()
	ferr := fn(rows)
	rows.Close()
	rerr := fail(sql, rows.Err())
	if ferr != nil {
		return true, ferr
	}
	return true, rerr
}

// textParams returns v as the text-format values of sd's parameters,
// the bytes pgx would send for them, without its type planning and
// encoding for each, when sd is what the settings statement always is: a
// statement whose parameters are v's number of texts. ok is false for
// anything else. The values are valid until the next call.
func (s *readStmts) textParams(sd *pgconn.StatementDescription, v *setupValues) (params [][]byte, ok bool) {
	if len(sd.ParamOIDs) != v.count() {
		return nil, false
	}
	for _, oid := range sd.ParamOIDs {
		if oid != pgtype.TextOID {
			return nil, false
		}
	}
	if v.claims == nil || v.headers == nil || v.cookies == nil {
		return nil, false // NULL, which requestSetup never sends
	}
	// The strings are copied into one buffer. Each value is a non-nil
	// slice (an empty one is an empty string; nil would be NULL), and
	// the buffer is never reallocated while values point into it.
	size := len(v.role) + len(v.method) + len(v.path)
	for _, m := range v.more[:v.n] {
		size += len(m)
	}
	if cap(s.setupText) < size || s.setupText == nil {
		s.setupText = make([]byte, 0, max(size, 256))
	}
	text := s.setupText[:0]
	str := func(x string) []byte {
		start := len(text)
		text = append(text, x...)
		return text[start:len(text):len(text)]
	}
	params = append(s.setupParams[:0], str(v.role), v.claims, str(v.method), str(v.path), v.headers, v.cookies)
	for _, m := range v.more[:v.n] {
		params = append(params, str(m))
	}
	s.setupText, s.setupParams = text, params
	return params, true
}

// staleStatement reports whether err may come from a prepared statement
// that no longer fits the database (a table or type changed under it), so
// that preparing it again can help: PostgreSQL's "cached plan must not
// change result type", a missing prepared statement, and errors of
// analysis (class 42) other than a missing privilege. Errors in the data
// (class 22), timeouts and the like say nothing about the statement.
func staleStatement(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch {
	case pe.Code == "0A000", pe.Code == "26000":
		return true
	case len(pe.Code) == 5 && pe.Code[:2] == "42" && pe.Code != "42501":
		return true
	}
	return false
}

// traceRead reports the start of a read's batch to tracer, with the
// statements queued as pgx's own batch would hold them.
func traceRead(ctx context.Context, tracer pgx.BatchTracer, c *pgx.Conn, st requestSetupStmt, sql string, args []any) context.Context {
	b := &pgx.Batch{}
	b.Queue(st.query, st.vals.args()...)
	b.Queue(sql, args...)
	return tracer.TraceBatchStart(ctx, c, pgx.TraceBatchStartData{Batch: b})
}
