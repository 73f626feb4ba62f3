package realtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// HubOptions configure a Hub.
type HubOptions struct {
	DB     *pg.DB
	Stream *Stream
	Logger *slog.Logger
	// QueueSize bounds each connection's outgoing queue.
	QueueSize int
	// JoinTimeout bounds how long a join waits for the change stream to be
	// live before it is refused.
	JoinTimeout time.Duration
}

// Hub owns the connections, their channel joins and presence, and fans
// messages out to them.
type Hub struct {
	opts HubOptions
	log  *slog.Logger

	mu       sync.RWMutex
	conns    map[*Conn]struct{}
	topics   map[string]map[*Join]struct{}
	presence map[string]*presenceState // by topic
	// changes indexes postgres_changes bindings by "schema.table"; a
	// binding for every table of a schema is under "schema.*", and one for
	// every schema under "*".
	changes map[string]map[*ChangeBinding]struct{}

	// instance names this process on the bus; peers are the other
	// instances by when they were last heard from.
	instance string
	bus      *bus
	peersMu  sync.Mutex
	peers    map[string]time.Time
	metrics  *hubMetrics

	// sweeping is whether the sweeper runs (guarded by mu): it runs while
	// there are connections, every sweepEvery.
	sweeping   bool
	sweepEvery time.Duration

	identsMu sync.Mutex
	idents   map[string]weak.Pointer[identity.Identity] // by token
}

// NewHub builds a hub.
func NewHub(opts HubOptions) *Hub {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.JoinTimeout <= 0 {
		opts.JoinTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{opts: opts, log: opts.Logger, conns: map[*Conn]struct{}{},
		topics: map[string]map[*Join]struct{}{}, presence: map[string]*presenceState{},
		changes: map[string]map[*ChangeBinding]struct{}{}, instance: randomID()[:16], peers: map[string]time.Time{}}
}

// Join is one connection's membership of a channel.
type Join struct {
	conn    *Conn
	Topic   string
	JoinRef string
	Private bool
	// Broadcast options: receive own messages, acknowledge sends.
	Self, Ack bool
	// Presence: the key this connection tracks under, and whether it
	// receives presence events.
	PresenceKey     string
	PresenceEnabled bool
	Changes         []*ChangeBinding
	// mayRead and maySend are the private channel's authorisation,
	// decided by RLS on realtime.messages when joining.
	mayRead, maySend bool
	// presenceRef is the phx_ref of this join's tracked presence (guarded
	// by the connection's mutex).
	presenceRef string
}

// ChangeBinding is one postgres_changes subscription of a join.
type ChangeBinding struct {
	ID     int    `json:"id"`
	Event  string `json:"event"`
	Schema string `json:"schema"`
	Table  string `json:"table,omitempty"`
	Filter string `json:"filter,omitempty"`

	join   *Join
	filter *rowFilter
}

// JoinRequest is what a client asks for when it joins a topic.
type JoinRequest struct {
	Topic   string
	JoinRef string
	Private bool
	Self    bool
	Ack     bool
	// PresenceKey is the key this client's presence is tracked under
	// (random when empty).
	PresenceKey     string
	PresenceEnabled bool
	Changes         []ChangeRequest
}

// ChangeRequest is one postgres_changes filter as the client sends it.
type ChangeRequest struct {
	Event  string `json:"event"`
	Schema string `json:"schema"`
	Table  string `json:"table,omitempty"`
	Filter string `json:"filter,omitempty"`
}

// JoinError is a refused join; Reason is shown to the client.
type JoinError struct{ Reason string }

func (e *JoinError) Error() string { return e.Reason }

// Register adds a connection.
func (h *Hub) Register(c *Conn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	if c.idleTimeout > 0 {
		// A tenth of the timeout: a silent client is closed at most 10%
		// late, and never more than a second.
		every := min(max(c.idleTimeout/10, 10*time.Millisecond), time.Second)
		if h.sweepEvery == 0 || every < h.sweepEvery {
			h.sweepEvery = every
		}
	}
	start := !h.sweeping
	h.sweeping = true
	h.mu.Unlock()
	if start {
		go h.sweep()
	}
}

// sweep closes connections whose client stayed silent past the heartbeat
// timeout or stopped reading in the middle of a write, and makes those
// whose token expired leave their channels. One goroutine checking every
// connection's deadlines replaces timers per connection, per read and per
// write. It ends when the last connection is gone (Register starts it
// again).
func (h *Hub) sweep() {
	var late, expired []*Conn
	var why []string
	lastPrune := time.Now()
	for {
		h.mu.RLock()
		every := h.sweepEvery
		h.mu.RUnlock()
		if every == 0 {
			every = time.Second
		}
		time.Sleep(every)
		now := time.Now().UnixNano()
		late, why, expired = late[:0], why[:0], expired[:0]
		h.mu.Lock()
		if len(h.conns) == 0 {
			h.sweeping = false
			h.mu.Unlock()
			h.pruneIdentities()
			return
		}
		for c := range h.conns {
			if r := c.overdue(now); r != "" {
				late, why = append(late, c), append(why, r)
			} else if c.tokenExpired(now) {
				expired = append(expired, c)
			}
		}
		h.mu.Unlock()
		for i, c := range late {
			c.abort(why[i])
		}
		for _, c := range expired {
			h.expire(c, "Token has expired")
		}
		clear(late)
		clear(expired)
		if time.Since(lastPrune) > time.Minute {
			h.pruneIdentities()
			lastPrune = time.Now()
		}
	}
}

// Unregister removes a connection and everything it joined.
func (h *Hub) Unregister(c *Conn) {
	for _, j := range c.topics() {
		h.Leave(c, j.Topic)
	}
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

// NewConn builds a connection for a protocol handler.
func (h *Hub) NewConn(ip string, ident identity.Identity) *Conn {
	return newConn(randomID(), ip, h.opts.QueueSize, h.intern(ident))
}

// intern returns the identity that connections presenting the same token
// share. Thousands of sockets typically present the same API key or a
// user's few sessions: each would otherwise keep its own decoded claims.
// Only an identity equal in every field is shared; the table holds weak
// pointers, so it keeps nothing alive, and the sweeper prunes it.
func (h *Hub) intern(id identity.Identity) *identity.Identity {
	h.identsMu.Lock()
	defer h.identsMu.Unlock()
	if p := h.idents[id.Token].Value(); p != nil && sameIdentity(p, &id) {
		return p
	}
	p := &id
	if h.idents == nil {
		h.idents = map[string]weak.Pointer[identity.Identity]{}
	}
	h.idents[id.Token] = weak.Make(p)
	return p
}

func sameIdentity(a, b *identity.Identity) bool {
	return a.Token == b.Token && a.Role == b.Role && a.Subject == b.Subject && a.KeyID == b.KeyID &&
		bytes.Equal(a.RawClaims, b.RawClaims)
}

// pruneIdentities forgets identities no connection uses any more.
func (h *Hub) pruneIdentities() {
	h.identsMu.Lock()
	defer h.identsMu.Unlock()
	for tok, p := range h.idents {
		if p.Value() == nil {
			delete(h.idents, tok)
		}
	}
}

// Join subscribes c to a topic. For postgres_changes it returns only when
// the change stream is live and every binding is valid, so that changes
// committed after the reply reach the client.
func (h *Hub) Join(ctx context.Context, c *Conn, req JoinRequest) (*Join, error) {
	if req.Topic == "" || len(req.Topic) > 255 {
		return nil, &JoinError{"a topic of 1 to 255 characters is required"}
	}
	if old := c.join(req.Topic); old != nil {
		h.Leave(c, req.Topic) // a rejoin replaces the old membership
	}
	j := &Join{conn: c, Topic: req.Topic, JoinRef: req.JoinRef, Private: req.Private,
		Self: req.Self, Ack: req.Ack, PresenceKey: req.PresenceKey, PresenceEnabled: req.PresenceEnabled,
		mayRead: true, maySend: true}
	if j.PresenceKey == "" {
		j.PresenceKey = randomID()
	}
	if req.Private {
		read, send, err := h.authorizeChannel(ctx, c.Identity(), req.Topic)
		if err != nil {
			return nil, err
		}
		if !read {
			return nil, &JoinError{"Unauthorized: you do not have permissions to read from this channel topic: " + req.Topic}
		}
		j.mayRead, j.maySend = read, send
	}
	if len(req.Changes) > 0 {
		if err := h.prepareChanges(ctx, c, j, req.Changes); err != nil {
			return nil, err
		}
	}

	assignBindingIDs(j.Changes)
	h.mu.Lock()
	for _, b := range j.Changes {
		key := bindingKey(b.Schema, b.Table)
		if h.changes[key] == nil {
			h.changes[key] = map[*ChangeBinding]struct{}{}
		}
		h.changes[key][b] = struct{}{}
	}
	first := h.topics[req.Topic] == nil
	if first {
		h.topics[req.Topic] = map[*Join]struct{}{}
	}
	h.topics[req.Topic][j] = struct{}{}
	h.mu.Unlock()
	if first {
		// Other instances may hold presences of this topic from before
		// this one started: they answer with tracks, sent as diffs.
		h.publish(busMessage{Kind: busSyncRequest, Topic: req.Topic})
	}

	c.mu.Lock()
	if c.joins == nil {
		c.joins = map[string]*Join{}
	}
	c.joins[req.Topic] = j
	c.mu.Unlock()
	return j, nil
}

// Leave removes c from a topic, untracking its presence.
func (h *Hub) Leave(c *Conn, topic string) {
	c.mu.Lock()
	j := c.joins[topic]
	delete(c.joins, topic)
	c.mu.Unlock()
	if j == nil {
		return
	}
	h.Untrack(j)
	h.mu.Lock()
	for _, b := range j.Changes {
		key := bindingKey(b.Schema, b.Table)
		delete(h.changes[key], b)
		if len(h.changes[key]) == 0 {
			delete(h.changes, key)
		}
	}
	delete(h.topics[topic], j)
	if len(h.topics[topic]) == 0 {
		delete(h.topics, topic)
	}
	h.mu.Unlock()
}

// assignBindingIDs gives each binding an id derived from what it asks for
// (event, schema, table, filter), as Supabase Realtime does: identical
// subscriptions on any connection carry the same id, so a change's payload,
// which lists the ids it matches, is the same bytes for all of them and is
// encoded once. Ids only need to tell a join's own bindings apart: the rare
// collision between two different bindings of one join is resolved by
// rehashing; 0 is never used (clients treat it as no id).
func assignBindingIDs(bs []*ChangeBinding) {
	for i, b := range bs {
		for salt := uint32(0); ; salt++ {
			b.ID = bindingHash(b, salt)
			clash := false
			for _, o := range bs[:i] {
				if o.ID == b.ID && !sameBinding(o, b) {
					clash = true
					break
				}
			}
			if !clash {
				break
			}
		}
	}
}

func sameBinding(a, b *ChangeBinding) bool {
	return a.Event == b.Event && a.Schema == b.Schema && a.Table == b.Table && a.Filter == b.Filter
}

// bindingHash is FNV-1a over the binding's fields, folded into 27 bits
// (the range of Supabase's ids, which JavaScript holds exactly).
func bindingHash(b *ChangeBinding, salt uint32) int {
	h := fnv.New32a()
	for _, s := range [...]string{b.Event, b.Schema, b.Table, b.Filter} {
		_, _ = io.WriteString(h, s)
		_, _ = h.Write([]byte{0xff}) // field separator: ("ab","c") differs from ("a","bc")
	}
	_, _ = h.Write(binary.LittleEndian.AppendUint32(nil, salt))
	x := h.Sum32()
	id := int((x ^ x>>27) & (1<<27 - 1))
	if id == 0 {
		id = 1
	}
	return id
}

func bindingKey(schema, table string) string {
	if schema == "*" {
		return "*"
	}
	if table == "" || table == "*" {
		return schema + ".*"
	}
	return schema + "." + table
}

// prepareChanges validates a join's postgres_changes bindings: the change
// stream must be live, each table must be published and readable by the
// caller, and each filter must parse against the table's columns.
func (h *Hub) prepareChanges(ctx context.Context, c *Conn, j *Join, reqs []ChangeRequest) error {
	if h.opts.Stream == nil {
		return &JoinError{"database changes are not available on this server"}
	}
	wctx, cancel := context.WithTimeout(ctx, h.opts.JoinTimeout)
	defer cancel()
	if err := h.opts.Stream.WaitLive(wctx); err != nil {
		return &JoinError{"the database change stream is not available; retry shortly"}
	}
	tables, err := h.publishedTables(ctx)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		ev := strings.ToUpper(r.Event)
		switch ev {
		case "*", "INSERT", "UPDATE", "DELETE":
		default:
			return &JoinError{fmt.Sprintf("invalid postgres_changes event %q: use *, INSERT, UPDATE or DELETE", r.Event)}
		}
		if r.Schema == "" {
			return &JoinError{"postgres_changes needs a schema (or *)"}
		}
		b := &ChangeBinding{Event: r.Event, Schema: r.Schema, Table: r.Table, Filter: r.Filter, join: j}
		if r.Table != "" && r.Table != "*" && r.Schema != "*" {
			cols, ok := tables[r.Schema+"."+r.Table]
			if !ok {
				return &JoinError{fmt.Sprintf("table %s.%s is not enabled for realtime; run select realtime.enable_realtime('%s.%s')", r.Schema, r.Table, r.Schema, r.Table)}
			}
			if r.Filter != "" {
				f, err := parseRowFilter(r.Filter, cols)
				if err != nil {
					return &JoinError{"invalid filter " + r.Filter + ": " + err.Error()}
				}
				b.filter = f
			}
		} else if r.Filter != "" {
			return &JoinError{"a filter needs a single table"}
		}
		j.Changes = append(j.Changes, b)
	}
	return nil
}

// publishedTables lists the published tables with their columns' types
// (schema-qualified, as SQL casts need them).
func (h *Hub) publishedTables(ctx context.Context) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	err := pgx.BeginFunc(ctx, h.opts.DB.Admin, func(tx pgx.Tx) error {
		// An empty search path makes format_type qualify every type that
		// is not built in.
		if _, err := tx.Exec(ctx, `set local search_path = pg_catalog`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			select n.nspname || '.' || c.relname, a.attname::text, format_type(a.atttypid, a.atttypmod)
			from pg_publication_rel pr
			join pg_publication p on p.oid = pr.prpubid and p.pubname = $1
			join pg_class c on c.oid = pr.prrelid
			join pg_namespace n on n.oid = c.relnamespace
			join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped`, Publication)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var table, col, typ string
			if err := rows.Scan(&table, &col, &typ); err != nil {
				return err
			}
			if out[table] == nil {
				out[table] = map[string]string{}
			}
			out[table][col] = typ
		}
		return rows.Err()
	})
	return out, err
}

// authorizeChannel asks the RLS policies on realtime.messages whether the
// caller may read (SELECT) and send (INSERT) on a private topic. The probe
// insert is rolled back.
func (h *Hub) authorizeChannel(ctx context.Context, id identity.Identity, topic string) (read, send bool, err error) {
	req := pgRequest(id, "/realtime/v1/websocket")
	errRollback := errors.New("rollback")
	err = h.opts.DB.InRequestTx(ctx, req, func(ctx context.Context, tx pg.Tx) error {
		if _, err := tx.Exec(ctx, `select set_config('realtime.topic', $1, true)`, topic); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `savepoint probe`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `insert into realtime.messages (topic, extension, event, private) values ($1, 'broadcast', 'probe', true)`, topic); err == nil {
			send = true
		}
		if _, err := tx.Exec(ctx, `rollback to savepoint probe`); err != nil {
			return err
		}
		// Reading is allowed when a SELECT policy lets the caller see a
		// message of this topic: the owner inserts a candidate row, the
		// caller looks for it, and the transaction is rolled back.
		var probe int64
		if err := tx.QueryRow(ctx, `select realtime.probe_message($1)`, topic).Scan(&probe); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `select exists (select 1 from realtime.messages where id = $1)`, probe).Scan(&read); err != nil {
			return err
		}
		return errRollback
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	return read, send, err
}

func pgRequest(id identity.Identity, path string) pg.Request {
	role := id.Role
	if role == "" {
		role = "anon"
	}
	return pg.Request{Role: role, Claims: id.RawClaims, Method: "GET", Path: path}
}

// Stats is a snapshot for the admin dashboard.
type Stats struct {
	Connections []ConnStats    `json:"connections"`
	Channels    []ChannelStats `json:"channels"`
	Stream      string         `json:"stream"`
	LagBytes    uint64         `json:"replication_lag_bytes"`
}

// ConnStats describes one connection.
type ConnStats struct {
	ID            string    `json:"id"`
	User          string    `json:"user,omitempty"`
	Role          string    `json:"role"`
	IP            string    `json:"ip"`
	ConnectedAt   time.Time `json:"connected_at"`
	Subscriptions []string  `json:"subscriptions"`
}

// ChannelStats counts a channel's subscribers.
type ChannelStats struct {
	Topic       string `json:"topic"`
	Subscribers int    `json:"subscribers"`
}

// Stats lists connections and channels.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	conns := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	st := Stats{Connections: []ConnStats{}, Channels: []ChannelStats{}}
	for topic, joins := range h.topics {
		st.Channels = append(st.Channels, ChannelStats{Topic: topic, Subscribers: len(joins)})
	}
	h.mu.RUnlock()
	for _, c := range conns {
		id := c.Identity()
		cs := ConnStats{ID: c.ID, User: id.Subject, Role: id.Role, IP: c.IP, ConnectedAt: c.ConnectedAt, Subscriptions: []string{}}
		for _, j := range c.topics() {
			cs.Subscriptions = append(cs.Subscriptions, j.Topic)
		}
		sort.Strings(cs.Subscriptions)
		st.Connections = append(st.Connections, cs)
	}
	sort.Slice(st.Connections, func(a, b int) bool { return st.Connections[a].ConnectedAt.Before(st.Connections[b].ConnectedAt) })
	sort.Slice(st.Channels, func(a, b int) bool { return st.Channels[a].Topic < st.Channels[b].Topic })
	if h.opts.Stream != nil {
		st.Stream = h.opts.Stream.State().String()
		st.LagBytes = h.opts.Stream.LagBytes()
	}
	return st
}

// System tells every joined client about the change stream's state, so
// that nobody misses changes silently.
func (h *Hub) System(status, message string) {
	payload, _ := json.Marshal(map[string]any{"status": status, "message": message, "extension": "postgres_changes", "channel": ""})
	h.mu.RLock()
	var joins []*Join
	for _, set := range h.changes {
		for b := range set {
			joins = append(joins, b.join)
		}
	}
	h.mu.RUnlock()
	seen := map[*Join]bool{}
	for _, j := range joins {
		if seen[j] {
			continue
		}
		seen[j] = true
		j.conn.send(Message{Topic: j.Topic, Event: "system", JoinRef: j.JoinRef, Payload: payload})
	}
}

// fanOut calls send(i, written) for i in [0, n), on as many goroutines as
// there are processors when n is large, and returns when every call
// returned, with the sum of what the calls added to their written
// counters (each goroutine has its own). Sends do not wait for clients,
// so a handful of goroutines keeps every core writing to sockets; one
// goroutine per connection would cost a goroutine start (and stack
// growth) per delivery.
func fanOut(n int, send func(i int, written *int)) int {
	const chunk = 64
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	if workers <= 1 {
		written := 0
		for i := range n {
			send(i, &written)
		}
		return written
	}
	var next, total atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			written := 0
			defer func() { total.Add(int64(written)) }()
			for {
				end := int(next.Add(chunk))
				start := end - chunk
				if start >= n {
					return
				}
				for i := start; i < min(end, n); i++ {
					send(i, &written)
				}
			}
		})
	}
	wg.Wait()
	return int(total.Load())
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CloseAll closes every connection with a reason, at shutdown.
func (h *Hub) CloseAll(reason string) {
	h.mu.RLock()
	conns := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.RUnlock()
	for _, c := range conns {
		c.Close(reason)
	}
}

// expire removes c from every channel because its token is no longer
// valid, telling each channel why.
func (h *Hub) expire(c *Conn, reason string) {
	for _, j := range c.topics() {
		h.Leave(c, j.Topic)
		c.send(Message{Topic: j.Topic, Event: "system", JoinRef: j.JoinRef, Payload: systemError(reason)})
		c.send(Message{Topic: j.Topic, Event: "phx_close", JoinRef: j.JoinRef, Payload: json.RawMessage(`{}`)})
	}
}
