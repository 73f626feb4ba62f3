package realtime

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/identity"
)

// changePayloadJSON is the postgres_changes payload, in Supabase's shape:
// {"ids": [...], "data": {...}}.
func changePayloadJSON(ids []int, data []byte) json.RawMessage {
	b := make([]byte, 0, len(data)+32)
	b = append(b, `{"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	b = append(b, `],"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

type changeData struct {
	Schema          string                     `json:"schema"`
	Table           string                     `json:"table"`
	CommitTimestamp string                     `json:"commit_timestamp"`
	Type            string                     `json:"type"`
	EventType       string                     `json:"eventType"`
	Columns         []ColumnInfo               `json:"columns"`
	Record          map[string]json.RawMessage `json:"record"`
	OldRecord       map[string]json.RawMessage `json:"old_record"`
	Errors          any                        `json:"errors"`
}

// identityKey groups subscribers that PostgreSQL sees identically.
func identityKey(id *identity.Identity) string { return id.Role + "\x00" + string(id.RawClaims) }

// HandleChange delivers one change to every subscriber whose binding,
// filter and row level security let it see the change. It is called for
// changes in commit order, from the stream's goroutine.
//
// Whatever the number of subscribers, PostgreSQL is asked once per change:
// one pipelined batch evaluates every distinct filter on the changed row
// and, for every distinct identity, whether that identity can see the row.
//
// Whatever the number of subscribers, the event is encoded once per
// distinct wire form: subscribers of the same topic, join reference and
// bindings (ids are derived from what a binding asks for) share one
// frame.
func (h *Hub) HandleChange(ctx context.Context, ch *Change) {
	bindings := h.matchingBindings(ch)
	if len(bindings) == 0 {
		return
	}
	// Connections presenting the same token share one identity, so
	// identities are told apart by pointer first and by role and claims
	// only once per distinct pointer.
	byPtr := map[*identity.Identity]string{}
	ids := map[string]identity.Identity{}
	var filters []*rowFilter
	filterIdx := map[*rowFilter]int{}
	var lastID *identity.Identity
	for _, b := range bindings {
		// Consecutive subscribers usually share the identity (one token,
		// or anonymous): comparing with the previous one spares a map
		// lookup each.
		if id := b.join.conn.identity(); id != lastID {
			if _, ok := byPtr[id]; !ok {
				key := identityKey(id)
				byPtr[id] = key
				ids[key] = *id
			}
			lastID = id
		}
		if b.filter != nil {
			if _, ok := filterIdx[b.filter]; !ok {
				filterIdx[b.filter] = len(filters)
				filters = append(filters, b.filter)
			}
		}
	}
	vis, pass, trips, err := h.evaluate(ctx, ch, ids, filters)
	h.metrics.change(trips)
	if err != nil {
		h.log.Warn("realtime: checking a change's visibility failed; it is not delivered", "table", ch.Schema+"."+ch.Table, "error", err)
		return
	}

	// Each join receives one event listing its bindings that matched.
	// Most joins have a single binding; only joins with several are
	// grouped through a map.
	targets := make([]changeTarget, 0, len(bindings))
	var multi map[*Join]int
	var v visibility
	lastID = nil
	for _, b := range bindings {
		if b.filter != nil && !pass[filterIdx[b.filter]] {
			continue
		}
		if id := b.join.conn.identity(); id != lastID {
			lastID, v = id, vis[byPtr[id]]
		}
		if !v.visible {
			continue
		}
		if len(b.join.Changes) == 1 {
			targets = append(targets, changeTarget{join: b.join, id: b.ID, keyOnly: v.keyOnly})
			continue
		}
		if multi == nil {
			multi = map[*Join]int{}
		}
		if i, ok := multi[b.join]; ok {
			t := &targets[i]
			if t.more == nil {
				t.more = []int{t.id}
			}
			t.more = append(t.more, b.ID)
			continue
		}
		multi[b.join] = len(targets)
		targets = append(targets, changeTarget{join: b.join, id: b.ID, keyOnly: v.keyOnly})
	}

	// The event's data is encoded once (twice when some subscribers may
	// only see a deleted row's key), and each distinct frame once.
	var full, keys []byte
	frames := map[frameKey]*Message{}
	var last *Message
	var lastKey frameKey
	for i := range targets {
		t := &targets[i]
		k := frameKey{topic: t.join.Topic, joinRef: t.join.JoinRef, id: t.id, keyOnly: t.keyOnly}
		if t.more != nil {
			k.id, k.ids = 0, idList(t.more)
		}
		// Subscribers in a row usually share the frame: comparing with
		// the previous one spares hashing the key.
		if last != nil && k == lastKey {
			t.msg = last
			continue
		}
		m := frames[k]
		if m == nil {
			data := &full
			if t.keyOnly {
				data = &keys
			}
			if *data == nil {
				d := changeData{Schema: ch.Schema, Table: ch.Table, Type: ch.Type, EventType: ch.Type,
					CommitTimestamp: ch.CommitTimestamp.UTC().Format(time.RFC3339Nano), Columns: ch.Columns,
					Record: ch.Record, OldRecord: ch.OldRecord}
				if t.keyOnly {
					d.OldRecord = onlyKeys(ch.OldRecord, ch.KeyColumns)
				}
				b, err := json.Marshal(d)
				if err != nil {
					return
				}
				*data = b
			}
			ids := t.more
			if ids == nil {
				ids = []int{t.id}
			}
			m = &Message{Topic: t.join.Topic, Event: "postgres_changes", JoinRef: t.join.JoinRef,
				Payload: changePayloadJSON(ids, *data), frame: &sharedFrame{}}
			frames[k] = m
		}
		t.msg, last, lastKey = m, m, k
	}
	h.metrics.out(fanOut(len(targets), func(i int, written *int) { targets[i].join.conn.sendCounting(*targets[i].msg, written) }))
	h.metrics.observeDelivery(ch.CommitTimestamp)
}

// changeTarget is one join a change goes to, with the ids of its
// bindings that matched (id, then more when there are several).
type changeTarget struct {
	join    *Join
	id      int
	more    []int
	keyOnly bool
	msg     *Message
}

// frameKey tells apart the postgres_changes frames of one change: what
// differs between subscribers is the topic, the join reference, the
// binding ids and whether only a deleted row's key may be seen.
type frameKey struct {
	topic, joinRef string
	id             int
	ids            string // several ids, when id is 0
	keyOnly        bool
}

func idList(ids []int) string {
	b := make([]byte, 0, len(ids)*8)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(b)
}

func onlyKeys(rec map[string]json.RawMessage, keys []string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(keys))
	for _, k := range keys {
		if v, ok := rec[k]; ok {
			out[k] = v
		}
	}
	return out
}

// matchingBindings are the bindings for the change's table and event.
func (h *Hub) matchingBindings(ch *Change) []*ChangeBinding {
	h.mu.RLock()
	defer h.mu.RUnlock()
	exact, schema, all := h.changes[ch.Schema+"."+ch.Table], h.changes[ch.Schema+".*"], h.changes["*"]
	out := make([]*ChangeBinding, 0, len(exact)+len(schema)+len(all))
	for _, set := range []map[*ChangeBinding]struct{}{exact, schema, all} {
		for b := range set {
			if b.Event == "*" || strings.EqualFold(b.Event, ch.Type) {
				out = append(out, b)
			}
		}
	}
	return out
}

type visibility struct{ visible, keyOnly bool }

// evaluate runs the filters and the visibility checks in one round trip,
// or none when there is nothing to ask (only service_role subscribers and
// no filters).
func (h *Hub) evaluate(ctx context.Context, ch *Change, ids map[string]identity.Identity, filters []*rowFilter) (map[string]visibility, []bool, int, error) {
	table := pgx.Identifier{ch.Schema, ch.Table}.Sanitize()
	record := ch.Record
	if ch.Type == "DELETE" {
		record = ch.OldRecord
	}
	rec, err := json.Marshal(record)
	if err != nil {
		return nil, nil, 0, err
	}

	vis := map[string]visibility{}
	type probe struct {
		Role   string          `json:"role"`
		Claims json.RawMessage `json:"claims"`
	}
	var keys []string
	var probes []probe
	for key, id := range ids {
		role := id.Role
		if role == "" {
			role = identity.RoleAnon
		}
		if role == identity.RoleServiceRole {
			vis[key] = visibility{visible: true}
			continue
		}
		claims := json.RawMessage(id.RawClaims)
		if len(claims) == 0 {
			claims = json.RawMessage(`{}`)
		}
		keys = append(keys, key)
		probes = append(probes, probe{Role: role, Claims: claims})
	}
	var idents []byte
	if len(probes) > 0 {
		if idents, err = json.Marshal(probes); err != nil {
			return nil, nil, 0, err
		}
	}
	pass := make([]bool, len(filters))
	batch := &pgx.Batch{}
	batch.Queue(`begin read only`)
	if len(filters) > 0 {
		args := []any{string(rec)}
		exprs := make([]string, len(filters))
		for i, f := range filters {
			exprs[i] = f.sql(&args)
		}
		batch.Queue(`select array[`+strings.Join(exprs, ", ")+`] from json_populate_record(null::`+table+`, $1::json) r`, args...).
			QueryRow(func(row pgx.Row) error { return row.Scan(&pass) })
	}
	switch {
	case len(probes) == 0:
	case ch.Type == "DELETE":
		// A deleted row cannot be checked against policies any more:
		// subscribers with SELECT on the table get the old record, the
		// others only its key.
		batch.Queue(`select array(select has_table_privilege(p->>'role', $1::regclass, 'SELECT') from json_array_elements($2::json) p)`, table, string(idents)).
			QueryRow(func(row pgx.Row) error {
				var ok []bool
				if err := row.Scan(&ok); err != nil {
					return err
				}
				for i, k := range keys {
					vis[k] = visibility{visible: true, keyOnly: i >= len(ok) || !ok[i]}
				}
				return nil
			})
	default:
		// Reading the row under each identity must see the change's
		// transaction. The stream receives a transaction as soon as its
		// commit is in the WAL, a moment before other sessions see it
		// committed: reading then would find no row and hide the change
		// from everyone. So the batch first waits, in the database, for
		// the transaction to end (see commitWaitSQL); the statements
		// after it take snapshots in which it is committed.
		if ch.Xid != 0 {
			queueCommitWait(batch, ch.Xid)
		}
		// Every identity in one statement: the function switches role
		// and claims for each and reads the row by key.
		batch.Queue(`select realtime.visible_to($1::regclass, $2::json, $3::text[], $4::json)`, table, string(rec), visibilityKeys(ch), string(idents)).
			QueryRow(func(row pgx.Row) error {
				var ok []bool
				if err := row.Scan(&ok); err != nil {
					return err
				}
				for i, k := range keys {
					vis[k] = visibility{visible: i < len(ok) && ok[i]}
				}
				return nil
			})
	}
	if batch.Len() == 1 {
		return vis, pass, 0, nil
	}
	batch.Queue(`rollback`)
	if err := h.sendBatch(ctx, batch); err != nil {
		return nil, nil, 1, err
	}
	return vis, pass, 1, nil
}

// queueCommitWait adds to a batch the statements that wait until the
// transaction xid has ended. A transaction holds the lock on its own id
// until after it has become visible to new snapshots, so once the lock is
// gone every later statement sees the transaction committed. It is
// normally gone already: the lock table is then read once and nothing
// waits. After about seven seconds the wait fails the batch.
func queueCommitWait(batch *pgx.Batch, xid uint32) {
	batch.Queue(`select set_config('realtime.commit_xid', $1, true)`, strconv.FormatUint(uint64(xid), 10))
	batch.Queue(commitWaitSQL)
}

const commitWaitSQL = `do $$
declare
  x xid := current_setting('realtime.commit_xid')::xid;
begin
  for i in 1..400 loop
    if not exists (select from pg_catalog.pg_locks l where l.locktype = 'transactionid' and l.transactionid = x) then
      return;
    end if;
    perform pg_catalog.pg_sleep(least(0.0001 * i, 0.025));
  end loop;
  raise exception 'transaction % has not ended although its commit was streamed', x;
end
$$`

// sendBatch runs a batch on a request connection.
func (h *Hub) sendBatch(ctx context.Context, batch *pgx.Batch) error {
	conn, err := h.opts.DB.API.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		// The connection may be mid-transaction; make it unusable rather
		// than return it to the pool in that state.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

// visibilityKeys are the columns that find the changed row: the replica
// identity's (usually the primary key), or every column without one.
func visibilityKeys(ch *Change) []string {
	if len(ch.KeyColumns) > 0 {
		return ch.KeyColumns
	}
	keys := make([]string, len(ch.Columns))
	for i, c := range ch.Columns {
		keys[i] = c.Name
	}
	return keys
}
