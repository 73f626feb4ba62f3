package rest

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// CacheSource hands out the current schema cache snapshot
// (*schema.Service does).
type CacheSource interface {
	Current() *schema.Cache
}

// Options are what the engine needs.
type Options struct {
	DB     *pg.DB
	Schema CacheSource
	Config config.RESTConfig
	Logger *slog.Logger
}

// Handler serves the REST routes.
type Handler struct {
	db     *pg.DB
	schema CacheSource
	cfg    config.RESTConfig
	log    *slog.Logger
	zones  *zoneNames
	shapes *shapeCache
	// preRequest is rest.pre_request's function, quoted; empty for none.
	preRequest string
	// searchPaths maps each exposed schema to the search_path a request
	// to it runs with, when that is not the API connections' own (which
	// is rest.extra_search_path): the schema, then the extra search path.
	searchPaths map[string]string
	// timeouts is rest.statement_timeouts by role.
	timeouts map[string]time.Duration
}

// New builds the engine.
func New(o Options) *Handler {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	zones := &zoneNames{log: log}
	if o.DB != nil {
		zones.pool = o.DB.Admin
	}
	h := &Handler{db: o.DB, schema: o.Schema, cfg: o.Config, log: log, zones: zones, shapes: &shapeCache{}}
	if schema, name, ok := o.Config.PreRequestFunction(); ok {
		h.preRequest = pgx.Identifier{schema, name}.Sanitize()
	}
	first, extra := "public", ""
	for i, s := range o.Config.ExtraSearchPath {
		if i == 0 {
			first = s
		}
		extra += ", " + pgx.Identifier{s}.Sanitize()
	}
	h.timeouts = o.Config.StatementTimeoutsByRole()
	h.searchPaths = map[string]string{}
	for _, s := range o.Config.Schemas {
		if s != first {
			h.searchPaths[s] = pgx.Identifier{s}.Sanitize() + extra
		}
	}
	return h
}

// family is the route family a request came through.
type family int

const (
	familyREST family = iota
	familyNative
)

// request is one REST request on its way through the pipeline.
type request struct {
	r      *http.Request
	fam    family
	id     identity.Identity
	cache  *schema.Cache
	schema string
	timing *timing
	prefer Prefer
	accept Accept
	// acceptErr is the 406 for an Accept header that none of the built-in
	// representations meets; a media type handler may still meet it.
	acceptErr error
	// handler is the aggregate that renders a read's rows when the
	// request chose a media type handler of a relation (accept.Media is
	// mediaHandler).
	handler *schema.MediaHandler
	// byKey is set for /api/v1/tables/{table}/{id}.
	byKey []string
	rpc   bool
	// contentLocation is set for reads of tables and views.
	contentLocation string
}

// timing records the phases PostgREST reports in Server-Timing.
type timing struct {
	start, mark time.Time
	buf         []byte // the Server-Timing header so far
}

func newTiming() *timing {
	now := time.Now()
	return &timing{start: now, mark: now, buf: make([]byte, 0, 96)}
}

// phase ends the current phase. It runs several times per request, so it
// appends to one buffer instead of formatting strings.
func (t *timing) phase(name string) {
	now := time.Now()
	if len(t.buf) > 0 {
		t.buf = append(t.buf, ", "...)
	}
	t.buf = append(t.buf, name...)
	t.buf = append(t.buf, ";dur="...)
	t.buf = appendMillis(t.buf, now.Sub(t.mark))
	t.mark = now
}

// appendMillis appends d in milliseconds with one decimal, rounded to the
// nearest tenth, in integer arithmetic (it runs for every phase of every
// request; strconv.AppendFloat is several times slower).
func appendMillis(b []byte, d time.Duration) []byte {
	tenths := (max(d.Microseconds(), 0) + 50) / 100
	b = strconv.AppendInt(b, tenths/10, 10)
	return append(b, '.', byte('0'+tenths%10))
}

func (t *timing) header() string { return string(t.buf) }

// ServeTable serves /rest/v1/{table}.
func (h *Handler) ServeTable(w http.ResponseWriter, r *http.Request) {
	if !allowed(w, r, tableScope(r)) {
		return
	}
	h.serveTable(w, r, familyREST, lastSegment(r, 0), nil)
}

// ServeRPC serves /rest/v1/rpc/{function}.
func (h *Handler) ServeRPC(w http.ResponseWriter, r *http.Request) {
	if !allowed(w, r, identity.ScopeExecuteFunctions) {
		return
	}
	h.serveRPC(w, r, familyREST, lastSegment(r, 0))
}

// ServeNativeTable serves /api/v1/tables/{table}.
func (h *Handler) ServeNativeTable(w http.ResponseWriter, r *http.Request) {
	if !allowed(w, r, tableScope(r)) {
		return
	}
	h.serveTable(w, r, familyNative, lastSegment(r, 0), nil)
}

// ServeNativeRow serves /api/v1/tables/{table}/{id}: one row by primary
// key. The id is the key's values in key order, comma-separated, each
// percent-encoded (so a comma inside a value is %2C).
func (h *Handler) ServeNativeRow(w http.ResponseWriter, r *http.Request) {
	if !allowed(w, r, tableScope(r)) {
		return
	}
	rawID := lastSegment(r, 0)
	parts := strings.Split(rawIDSegment(r), ",")
	vals := make([]string, len(parts))
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil {
			httpx.WriteError(w, r, httpx.NewError(http.StatusBadRequest, CodeParse, "the row id is not valid percent-encoding").WithDetails(rawID))
			return
		}
		vals[i] = v
	}
	h.serveTable(w, r, familyNative, lastSegment(r, 1), vals)
}

// ServeNativeRPC serves /api/v1/rpc/{function}.
func (h *Handler) ServeNativeRPC(w http.ResponseWriter, r *http.Request) {
	if !allowed(w, r, identity.ScopeExecuteFunctions) {
		return
	}
	h.serveRPC(w, r, familyNative, lastSegment(r, 0))
}

// tableScope is the API key scope a table request needs.
func tableScope(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return identity.ScopeReadTables
	}
	return identity.ScopeWriteTables
}

// allowed answers 403 insufficient_scope, and false, when the caller is an
// API key without scope; row level security still decides everything else.
func allowed(w http.ResponseWriter, r *http.Request, scope string) bool {
	if err := identity.RequireScope(r.Context(), scope); err != nil {
		httpx.WriteError(w, r, err)
		return false
	}
	return true
}

// lastSegment returns the n-th path segment from the end, unescaped.
func lastSegment(r *http.Request, n int) string {
	segs := strings.Split(strings.TrimSuffix(r.URL.EscapedPath(), "/"), "/")
	if len(segs) <= n {
		return ""
	}
	s, err := url.PathUnescape(segs[len(segs)-1-n])
	if err != nil {
		return segs[len(segs)-1-n]
	}
	return s
}

func rawIDSegment(r *http.Request) string {
	segs := strings.Split(strings.TrimSuffix(r.URL.EscapedPath(), "/"), "/")
	return segs[len(segs)-1]
}

// begin does what every request starts with: identity, schema snapshot,
// profile, Prefer and Accept.
func (h *Handler) begin(r *http.Request, fam family, name string) (*request, string, error) {
	req := &request{r: r, fam: fam, timing: newTiming()}
	id, ok := identity.FromContext(r.Context())
	if !ok {
		return nil, "", httpx.ErrUnauthorized
	}
	req.id = id
	req.cache = h.schema.Current()
	if req.cache == nil {
		return nil, "", httpx.NewError(http.StatusServiceUnavailable, "PGRST002", "Could not query the database for the schema cache. Retrying.")
	}
	schemaName := ""
	hdr := "Content-Profile"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		hdr = "Accept-Profile"
	}
	if p := strings.TrimSpace(r.Header.Get(hdr)); p != "" {
		schemaName = p
	}
	if fam == familyNative {
		if s, n, ok := strings.Cut(name, "."); ok {
			if schemaName != "" && schemaName != s {
				return nil, "", httpx.NewError(http.StatusBadRequest, "PGRST106",
					fmt.Sprintf("the path names schema %q but %s names %q", s, hdr, schemaName))
			}
			schemaName, name = s, n
		}
	}
	if schemaName == "" {
		schemaName = req.cache.DefaultSchema()
	}
	if !req.cache.Exposed(schemaName) {
		return nil, "", errSchema(req.cache.Schemas)
	}
	req.schema = schemaName
	var err error
	validZone := func(name string) bool { return h.zones.valid(r.Context(), name) }
	if req.prefer, err = ParsePrefer(r.Header, validZone); err != nil {
		return nil, "", err
	}
	req.accept, req.acceptErr = ParseAccept(r.Header)
	if req.accept.Media == mediaPlan && !h.cfg.ExplainEnabled {
		return nil, "", httpx.NewError(http.StatusNotAcceptable, "PGRST107", "None of these media types are available: "+r.Header.Get("Accept")).
			WithHint("query plans are disabled; set rest.explain_enabled to true to allow them")
	}
	return req, name, nil
}

// negotiateHandler chooses the representation of a read among the
// built-in ones and the media type handlers hs of what it reads. A handler
// for the rows of one relation takes its columns exactly, so it applies
// only to a read without select=, as in PostgREST; one for any rows
// (anyelement) applies to every read.
func negotiateHandler(req *request, hs []*schema.MediaHandler) {
	if len(hs) == 0 {
		return
	}
	hasSelect := req.r.URL.Query().Has("select")
	types := make([]string, 0, len(hs))
	for _, mh := range hs {
		if mh.Any || !hasSelect {
			types = append(types, mh.MediaType)
		}
	}
	req.accept, req.acceptErr = ParseAccept(req.r.Header, types...)
	if req.accept.Media == mediaHandler {
		for _, mh := range hs {
			if mh.MediaType == req.accept.Handler {
				req.handler = mh
				break
			}
		}
	}
}

func (h *Handler) planner() *planner {
	return &planner{aggregates: h.cfg.AggregatesEnabled, maxDepth: h.cfg.MaxEmbedDepth}
}

// maxRowsPage applies rest.max_rows to a page.
func (h *Handler) maxRowsPage(p Page) Page {
	if m := h.cfg.MaxRows; m > 0 && (p.Limit < 0 || p.Limit > m) {
		p.Limit = m
	}
	return p
}

func (h *Handler) serveTable(w http.ResponseWriter, r *http.Request, fam family, name string, byKey []string) {
	req, name, err := h.begin(r, fam, name)
	if err != nil {
		h.fail(w, r, req, err)
		return
	}
	req.byKey = byKey
	t := req.cache.Table(req.schema, name)
	if t == nil {
		h.fail(w, r, req, errUnknownTable(req.schema, name, req.cache))
		return
	}
	read := byKey == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead)
	if read {
		negotiateHandler(req, t.MediaHandlers)
	}
	if req.acceptErr != nil {
		h.fail(w, r, req, req.acceptErr)
		return
	}
	if read {
		pr, err := h.prepareRead(req, t, name)
		if err != nil {
			h.fail(w, r, req, err)
			return
		}
		h.runRead(w, req, t, pr)
		return
	}
	q, err := ParseQuery(r.URL.RawQuery, nil)
	if err != nil {
		h.fail(w, r, req, err)
		return
	}
	if byKey != nil {
		if err := addKeyFilters(q, t, byKey); err != nil {
			h.fail(w, r, req, err)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			req.accept.Media = mediaObject
		}
		if req.prefer.Return == "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
			req.prefer.Return = "representation"
		}
	}
	req.timing.phase("parse")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		pr, err := h.compileRead(req, t, q, nil)
		if err != nil {
			h.fail(w, r, req, err)
			return
		}
		h.runRead(w, req, t, pr)
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		h.write(w, req, t, q)
	default:
		h.fail(w, r, req, httpx.NewError(http.StatusMethodNotAllowed, "PGRST117", "Unsupported HTTP method: "+r.Method))
	}
}

// addKeyFilters turns a row id into pk=eq.value filters.
func addKeyFilters(q *Query, t *schema.Table, vals []string) error {
	if len(t.PrimaryKey) == 0 {
		return httpx.NewError(http.StatusBadRequest, "PGRST105",
			fmt.Sprintf("%s.%s has no primary key, so its rows cannot be addressed by id", t.Schema, t.Name)).
			WithHint("use /api/v1/tables/" + t.Name + " with filters instead")
	}
	if len(vals) != len(t.PrimaryKey) {
		return httpx.NewError(http.StatusBadRequest, "PGRST105",
			fmt.Sprintf("the id of %s.%s has %d value(s), but its primary key (%s) has %d", t.Schema, t.Name, len(vals), strings.Join(t.PrimaryKey, ", "), len(t.PrimaryKey))).
			WithHint("give the key's values in key order, comma-separated and percent-encoded, such as /api/v1/tables/order_items/12,3")
	}
	for i, k := range t.PrimaryKey {
		q.Filters = append(q.Filters, Filter{Field: Field{Name: k}, Op: "eq", Value: vals[i]})
	}
	return nil
}

// preparedRead is the statement of a read and what answering it needs.
type preparedRead struct {
	st    readStatement
	page  Page
	count countMode
}

// prepareRead turns the query string of a read of t (named name in the
// request) into its statement: the kept statement of its shape with the
// request's values bound when there is one, else by parsing, planning and
// building, keeping the result under the request's shape.
func (h *Handler) prepareRead(req *request, t *schema.Table, name string) (preparedRead, error) {
	sh := readShape(req, name)
	if sh != nil {
		if e := h.shapes.get(req.cache, sh.key); e != nil {
			req.timing.phase("parse")
			req.contentLocation = renderContentLocation(req, t, sh.params, e.order)
			pr := preparedRead{st: e.statement(sh), page: e.page, count: e.count}
			req.timing.phase("plan")
			return pr, nil
		}
	}
	q, err := ParseQuery(req.r.URL.RawQuery, nil)
	if err != nil {
		return preparedRead{}, err
	}
	req.timing.phase("parse")
	return h.compileRead(req, t, q, sh)
}

// compileRead plans and builds the read q of t; sh, when set, is the
// request's shape, under which the statement is kept for reuse.
func (h *Handler) compileRead(req *request, t *schema.Table, q *Query, sh *shape) (preparedRead, error) {
	r := req.r
	p := h.planner()
	p.cache = req.cache
	root, err := p.planRead(t, q)
	if err != nil {
		return preparedRead{}, err
	}
	page, err := ParseRange(r.Header)
	if err != nil {
		return preparedRead{}, err
	}
	page = page.intersect(q.Offset[""], q.Limit[""], hasKey(q.Offset, ""), hasKey(q.Limit, ""))
	page = h.maxRowsPage(page)
	count := countMode(req.prefer.Count)
	format := bodyFormat{media: req.accept.Media, stripNulls: req.accept.NullsStrip, handler: req.handler, rowType: t.QualifiedName().Quoted()}
	var params []QueryParam
	if sh != nil {
		params = sh.params
	} else {
		params = splitLenient(r.URL.RawQuery)
	}
	order := canonicalOrder(params)
	req.contentLocation = renderContentLocation(req, t, params, order)
	s := &sqlb{maxRows: h.cfg.MaxRows}
	st := buildRead(root, t.QualifiedName().Quoted(), page, count, format, s)
	if sh != nil {
		h.shapes.put(req.cache, h.schema.Current(), sh, st, s, page, count, order)
	}
	req.timing.phase("plan")
	return preparedRead{st: st, page: page, count: count}, nil
}

// runRead runs a read's statement and answers.
func (h *Handler) runRead(w http.ResponseWriter, req *request, t *schema.Table, pr preparedRead) {
	if pr.count != countNone {
		req.prefer.apply("count=" + req.prefer.Count)
	}
	page := pr.page
	h.run(w, req, pr.st, true, page, func(res *result) (int, error) {
		if req.accept.Media == mediaObject && res.page != 1 {
			if req.byKey != nil && res.page == 0 {
				return 0, httpx.NewError(http.StatusNotFound, "not_found",
					fmt.Sprintf("no row of %s.%s has the id %s", t.Schema, t.Name, strings.Join(req.byKey, ",")))
			}
			return 0, errSingular(res.page)
		}
		return rangeStatus(page, res)
	})
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// result is the row every statement returns.
type result struct {
	total    *int64
	page     int64
	body     []byte
	location *string
	inserted *int64
	plan     bool
	// response.headers and response.status as the statement left them.
	respHeaders, respStatus *string
	override                *responseOverride
}

// rangeStatus picks 200, 206 or 416 as PostgREST does.
func rangeStatus(page Page, res *result) (int, error) {
	if res.total == nil {
		return http.StatusOK, nil
	}
	total := *res.total
	if page.Offset > total && page.Offset > 0 {
		return 0, httpx.NewError(http.StatusRequestedRangeNotSatisfiable, "PGRST103", "Requested range not satisfiable").
			WithDetails(fmt.Sprintf("An offset of %d was requested, but there are only %d rows.", page.Offset, total))
	}
	if res.page < total {
		return http.StatusPartialContent, nil
	}
	return http.StatusOK, nil
}

func contentRange(offset int64, res *result) string {
	total := "*"
	if res.total != nil {
		total = strconv.FormatInt(*res.total, 10)
	}
	if res.page == 0 {
		return "*/" + total
	}
	b := make([]byte, 0, 24+len(total))
	b = strconv.AppendInt(b, offset, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, offset+res.page-1, 10)
	b = append(b, '/')
	return string(append(b, total...))
}

// errRollback ends a transaction on purpose (tx=rollback, plans) while the
// response is still delivered.
var errRollback = errors.New("rest: roll back on purpose")

// run executes a statement in the request transaction and renders the
// response. decide checks the result inside the transaction (an error
// rolls it back) and picks the status.
func (h *Handler) run(w http.ResponseWriter, req *request, st readStatement, readOnly bool, page Page, decide func(*result) (int, error)) {
	r := req.r
	var res result
	var status int
	rollback := req.prefer.Tx == "rollback"
	if req.accept.Media == mediaPlan {
		st = explainStatement(st, req.accept)
		res.plan = true
		rollback = true
	}
	pgReq := identity.PGRequest(r, req.id, readOnly)
	if req.fam == familyREST {
		// request.path as PostgREST has it behind Supabase's gateway, which
		// strips /rest/v1: the path as sent, from the table or rpc/ on.
		pgReq.Path = strings.TrimPrefix(r.URL.EscapedPath(), "/rest/v1")
	}
	if d, ok := h.timeouts[req.id.Role]; ok {
		// Zero means no limit for this role, which pg spells negative.
		pgReq.StatementTimeout = cmp.Or(d, -1)
	}
	pgReq.TimeZone = req.prefer.Timezone
	// The database's own configuration (pgrst.db_pre_request on the
	// authenticator role) wins over rest.pre_request, as in PostgREST.
	pgReq.PreRequest = cmp.Or(req.cache.PreRequest, h.preRequest)
	// As PostgREST does: unqualified names in the request's functions and
	// views resolve in its schema first, then in the extra search path,
	// which the connections' search_path already is (see
	// pg.DB.SetAPISearchPath).
	pgReq.SearchPath = h.searchPaths[req.schema]
	err := h.db.QueryInRequestTx(r.Context(), pgReq, st.SQL, st.Args, func(rows pgx.Rows) error {
		if err := scanResult(rows, &res); err != nil {
			return err
		}
		if res.plan {
			status = http.StatusOK
			return errRollback
		}
		var err error
		status, err = decide(&res)
		if err != nil {
			return err
		}
		// Checked inside the transaction: a write whose settings are
		// invalid is not acknowledged, so it must not commit.
		if res.override, err = parseResponseSettings(res.respHeaders, res.respStatus); err != nil {
			return err
		}
		if rollback {
			return errRollback
		}
		return nil
	})
	req.timing.phase("transaction")
	if err != nil && !errors.Is(err, errRollback) {
		var he *httpx.Error
		if errors.As(err, &he) && he.Code == "PGRST103" && res.total != nil {
			w.Header().Set("Content-Range", "*/"+strconv.FormatInt(*res.total, 10))
		}
		h.fail(w, r, req, err)
		return
	}
	switch req.prefer.Tx {
	case "rollback":
		req.prefer.apply("tx=rollback")
	case "commit":
		req.prefer.apply("tx=commit")
	}
	h.respond(w, req, st, page, &res, status)
}

// scanResult reads the statement's result into res: the plan's lines, or
// the one row every statement returns.
func scanResult(rows pgx.Rows, res *result) error {
	if res.plan {
		var lines []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return err
			}
			lines = append(lines, line)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		res.body = []byte(strings.Join(lines, "\n"))
		return nil
	}
	if rows.Next() && !scanResultRow(rows, res) {
		dest := []any{&res.total, &res.page, &res.body}
		if len(rows.FieldDescriptions()) > 5 {
			dest = append(dest, &res.location, &res.inserted)
		}
		dest = append(dest, &res.respHeaders, &res.respStatus)
		if err := rows.Scan(dest...); err != nil {
			return err
		}
	}
	rows.Close()
	return rows.Err()
}

// scanResultRow decodes the row every statement returns (total_count,
// page_count, body[, location, inserted], response.headers,
// response.status) straight from its raw values, as rows.Scan into
// scanResult's destinations would, which plans a scan for every column of
// every request's rows. It reports false, having set nothing that Scan
// would not overwrite, for any row it does not know how to decode exactly
// (another shape or type, a NULL page_count), which Scan then handles.
func scanResultRow(rows pgx.Rows, res *result) bool {
	fds, vals := rows.FieldDescriptions(), rows.RawValues()
	n := len(fds)
	if (n != 5 && n != 7) || len(vals) != n || vals[1] == nil ||
		!isInt8(fds[0]) || !isInt8(fds[1]) || !isText(fds[2]) || !isText(fds[n-2]) || !isText(fds[n-1]) ||
		(n == 7 && (!isText(fds[3]) || !isInt8(fds[4]))) {
		return false
	}
	total, totalNull, ok := int8Value(fds[0], vals[0])
	if !ok {
		return false
	}
	page, _, ok := int8Value(fds[1], vals[1])
	if !ok {
		return false
	}
	var inserted int64
	insertedNull := true
	if n == 7 {
		if inserted, insertedNull, ok = int8Value(fds[4], vals[4]); !ok {
			return false
		}
	}
	res.total, res.inserted, res.location = nil, nil, nil
	if !totalNull {
		res.total = &total
	}
	if !insertedNull {
		res.inserted = &inserted
	}
	if n == 7 {
		res.location = textValue(vals[3])
	}
	res.page = page
	// The raw values live in the connection's read buffer: copies.
	res.body = nil
	if vals[2] != nil {
		res.body = append(make([]byte, 0, len(vals[2])), vals[2]...)
	}
	res.respHeaders, res.respStatus = textValue(vals[n-2]), textValue(vals[n-1])
	return true
}

func isInt8(fd pgconn.FieldDescription) bool { return fd.DataTypeOID == pgtype.Int8OID }

// isText accepts text, whose binary and text formats are both its bytes.
func isText(fd pgconn.FieldDescription) bool { return fd.DataTypeOID == pgtype.TextOID }

// int8Value decodes a bigint in either format.
func int8Value(fd pgconn.FieldDescription, v []byte) (n int64, null, ok bool) {
	if v == nil {
		return 0, true, true
	}
	switch fd.Format {
	case pgtype.BinaryFormatCode:
		if len(v) != 8 {
			return 0, false, false
		}
		return int64(binary.BigEndian.Uint64(v)), false, true
	case pgtype.TextFormatCode:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, false, err == nil
	}
	return 0, false, false
}

func textValue(v []byte) *string {
	if v == nil {
		return nil
	}
	s := string(v)
	return &s
}

// explainStatement wraps a statement in EXPLAIN.
func explainStatement(st readStatement, a Accept) readStatement {
	opts := []string{"FORMAT TEXT"}
	if a.PlanFormat == "json" {
		opts[0] = "FORMAT JSON"
	}
	if a.PlanAnalyze {
		opts = append(opts, "ANALYZE")
	}
	if a.PlanVerbose {
		opts = append(opts, "VERBOSE")
	}
	if a.PlanSettings {
		opts = append(opts, "SETTINGS")
	}
	if a.PlanBuffers && a.PlanAnalyze {
		opts = append(opts, "BUFFERS")
	}
	if a.PlanWAL && a.PlanAnalyze {
		opts = append(opts, "WAL")
	}
	return readStatement{SQL: "EXPLAIN (" + strings.Join(opts, ", ") + ") " + st.SQL, Args: st.Args}
}

// respond writes headers and body.
func (h *Handler) respond(w http.ResponseWriter, req *request, st readStatement, page Page, res *result, status int) {
	r := req.r
	hdr := w.Header()
	if res.plan {
		forMedia := req.accept.PlanFor
		if forMedia == "" {
			forMedia = mediaJSON
		}
		hdr.Set("Content-Type", fmt.Sprintf("%s+%s; for=%q; charset=utf-8", mediaPlan, req.accept.PlanFormat, forMedia))
		req.timing.phase("response")
		hdr.Set("Server-Timing", req.timing.header())
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(res.body)
		}
		return
	}
	// The response's header values share one allocation instead of one
	// each.
	hs := headerSetter{h: hdr, vals: make([]string, 0, 9)}
	req.prefer.applyCommon()
	if a := req.prefer.appliedHeader(); a != "" {
		hs.set("Preference-Applied", a)
	}
	if len(req.cache.Schemas) > 1 {
		hs.set("Content-Profile", req.schema)
	}
	isRead := r.Method == http.MethodGet || r.Method == http.MethodHead
	if isRead || r.Method == http.MethodPatch || r.Method == http.MethodDelete || r.Method == http.MethodPost {
		if !isRead && !req.rpc && res.total == nil && r.Method == http.MethodPost {
			hs.set("Content-Range", "*/*")
		} else {
			hs.set("Content-Range", contentRange(page.Offset, res))
		}
	}
	if res.location != nil {
		hs.set("Location", h.location(req, *res.location))
	}
	if req.contentLocation != "" {
		hs.set("Content-Location", req.contentLocation)
	}
	status = res.override.statusOr(status)
	body := res.body
	if body == nil && req.accept.Media == mediaHandler {
		// A media type handler's NULL is an empty body, still in the
		// handler's media type.
		body = []byte{}
	}
	if status == http.StatusNoContent || status == http.StatusNotModified {
		body = nil
	}
	if status != http.StatusNoContent && body != nil {
		media := req.accept.Media
		if req.byKey != nil && media == mediaObject {
			// The native row route always answers one object as JSON.
			media = mediaJSON
		}
		hs.set("Content-Type", contentType(media, req.accept.Handler))
	}
	if isRead && status < 300 && body != nil {
		etag := bodyETag(body)
		hs.set("ETag", etag)
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			status = http.StatusNotModified
			body = nil
			hdr.Del("Content-Type")
		}
	}
	req.timing.phase("response")
	hs.set("Server-Timing", req.timing.header())
	if body != nil {
		hs.set("Content-Length", strconv.Itoa(len(body)))
	}
	res.override.setHeaders(hdr)
	w.WriteHeader(status)
	if r.Method != http.MethodHead && body != nil {
		_, _ = w.Write(body)
	}
}

// headerSetter sets single-valued headers like http.Header.Set, with the
// values' one-element slices cut from one backing array. Each slice's
// capacity ends at its element, so a later Add to the same header copies
// instead of overwriting its neighbour.
type headerSetter struct {
	h    http.Header
	vals []string
}

func (s *headerSetter) set(key, value string) {
	if len(s.vals) == cap(s.vals) {
		s.h.Set(key, value)
		return
	}
	s.vals = append(s.vals, value)
	n := len(s.vals)
	s.h[http.CanonicalHeaderKey(key)] = s.vals[n-1 : n : n]
}

// bodyETag is the strong ETag of a response body: the first 128 bits of
// its SHA-256, so that it is the same on every replica and after restarts,
// and so that nobody who can write rows can make a changed body keep the
// ETag a client has cached (as with a CRC, whose collisions are easy to
// construct). With SHA-NI it costs about a microsecond per kilobyte.
func bodyETag(body []byte) string {
	sum := sha256.Sum256(body)
	var b [34]byte
	b[0], b[33] = '"', '"'
	hex.Encode(b[1:33], sum[:16])
	return string(b[:])
}

func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, part := range strings.Split(header, ",") {
		p := strings.TrimSpace(part)
		p = strings.TrimPrefix(p, "W/")
		if p == "*" || p == etag {
			return true
		}
	}
	return false
}

// contentType is the Content-Type of a body in media; handler is the media
// type of the media type handler (a function's or an aggregate's) when
// media is mediaHandler.
func contentType(media, handler string) string {
	switch media {
	case mediaObject:
		return mediaObject + "; charset=utf-8"
	case mediaCSV:
		return mediaCSV + "; charset=utf-8"
	case mediaHandler:
		switch handler {
		case "*/*":
			// The handler answers every request; what it sends is its own
			// to say, with response.headers.
			return "application/octet-stream"
		case "text/plain", "text/xml", "text/csv", "application/json", "application/xml":
			return handler + "; charset=utf-8"
		}
		return handler
	}
	return mediaJSON + "; charset=utf-8"
}

// location renders the Location of an inserted row from its key values
// (a JSON array of text).
func (h *Handler) location(req *request, keys string) string {
	vals, err := decodeStringArray(keys)
	if err != nil {
		return ""
	}
	t := req.cache.Table(req.schema, lastSegment(req.r, 0))
	name := lastSegment(req.r, 0)
	if t == nil {
		return ""
	}
	if req.fam == familyNative {
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = url.PathEscape(v)
		}
		return "/api/v1/tables/" + url.PathEscape(name) + "/" + strings.Join(parts, ",")
	}
	var q []string
	for i, k := range t.PrimaryKey {
		if i < len(vals) {
			q = append(q, url.QueryEscape(k)+"=eq."+url.QueryEscape(vals[i]))
		}
	}
	return "/" + url.PathEscape(name) + "?" + strings.Join(q, "&")
}

// fail renders an error, never with SQL text Fluxbase generated.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, req *request, err error) {
	role := ""
	if req != nil {
		role = req.id.Role
		if req.timing != nil {
			req.timing.phase("response")
			w.Header().Set("Server-Timing", req.timing.header())
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "PGRST" {
		e, headers := raisedResponse(pe)
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		httpx.WriteError(w, r, e)
		return
	}
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "54") {
		// program_limit_exceeded and friends: the request asked for more
		// than one statement can do (too many columns, too deep a value).
		httpx.WriteError(w, r, &httpx.Error{Status: http.StatusBadRequest, Code: pe.Code, Message: pe.Message,
			Hint: "make the request smaller: fewer columns, shorter values or a simpler filter", Err: err})
		return
	}
	if errors.As(err, &pe) && ((pe.Code == "42601" && !strings.Contains(pe.Message, "tsquery")) || pe.Code == "42P18" || pe.Code == "42P08") {
		// A syntax or parameter-typing error means the generated statement
		// is wrong, not the request: its text stays in the log.
		h.log.Error("generated REST statement failed", "code", pe.Code, "error", pe.Message, "path", r.URL.Path)
		httpx.WriteError(w, r, &httpx.Error{Status: http.StatusBadRequest, Code: pe.Code,
			Message: "the request could not be turned into a valid query", Hint: "check the select, filter and order parameters", Err: err})
		return
	}
	e := pg.ErrorFromRole(err, role)
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	httpx.WriteError(w, r, e)
}
