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
func identityKey(id identity.Identity) string { return id.Role + "\x00" + string(id.RawClaims) }

// HandleChange delivers one change to every subscriber whose binding,
// filter and row level security let it see the change. It is called for
// changes in commit order, from the stream's goroutine.
//
// Whatever the number of subscribers, PostgreSQL is asked once per change:
// one pipelined batch evaluates every distinct filter on the changed row
// and, for every distinct identity, whether that identity can see the row.
func (h *Hub) HandleChange(ctx context.Context, ch *Change) {
	bindings := h.matchingBindings(ch)
	if len(bindings) == 0 {
		return
	}
	ids := map[string]identity.Identity{}
	var filters []*rowFilter
	filterIdx := map[*rowFilter]int{}
	for _, b := range bindings {
		id := b.join.conn.Identity()
		ids[identityKey(id)] = id
		if b.filter != nil {
			filterIdx[b.filter] = len(filters)
			filters = append(filters, b.filter)
		}
	}
	vis, pass, trips, err := h.evaluate(ctx, ch, ids, filters)
	h.metrics.change(trips)
	if err != nil {
		h.log.Warn("realtime: checking a change's visibility failed; it is not delivered", "table", ch.Schema+"."+ch.Table, "error", err)
		return
	}

	perJoin := map[*Join][]int{}
	var order []*Join
	keyOnly := map[*Join]bool{}
	for _, b := range bindings {
		if b.filter != nil && !pass[filterIdx[b.filter]] {
			continue
		}
		v := vis[identityKey(b.join.conn.Identity())]
		if !v.visible {
			continue
		}
		if _, ok := perJoin[b.join]; !ok {
			order = append(order, b.join)
		}
		perJoin[b.join] = append(perJoin[b.join], b.ID)
		keyOnly[b.join] = v.keyOnly
	}
	// The event's data is encoded once (twice when some subscribers may
	// only see a deleted row's key); each join adds only its binding ids.
	var full, keys []byte
	for _, j := range order {
		data := &full
		if keyOnly[j] {
			data = &keys
		}
		if *data == nil {
			d := changeData{Schema: ch.Schema, Table: ch.Table, Type: ch.Type, EventType: ch.Type,
				CommitTimestamp: ch.CommitTimestamp.UTC().Format(time.RFC3339Nano), Columns: ch.Columns,
				Record: ch.Record, OldRecord: ch.OldRecord}
			if keyOnly[j] {
				d.OldRecord = onlyKeys(ch.OldRecord, ch.KeyColumns)
			}
			b, err := json.Marshal(d)
			if err != nil {
				return
			}
			*data = b
		}
		j.conn.send(Message{Topic: j.Topic, Event: "postgres_changes", JoinRef: j.JoinRef, Payload: changePayloadJSON(perJoin[j], *data)})
	}
	h.metrics.observeDelivery(ch.CommitTimestamp)
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
	var out []*ChangeBinding
	for _, key := range []string{ch.Schema + "." + ch.Table, ch.Schema + ".*", "*"} {
		for b := range h.changes[key] {
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

	batch := &pgx.Batch{}
	batch.Queue(`begin read only`)
	pass := make([]bool, len(filters))
	if len(filters) > 0 {
		args := []any{string(rec)}
		exprs := make([]string, len(filters))
		for i, f := range filters {
			exprs[i] = f.sql(&args)
		}
		batch.Queue(`select array[`+strings.Join(exprs, ", ")+`] from json_populate_record(null::`+table+`, $1::json) r`, args...).
			QueryRow(func(row pgx.Row) error { return row.Scan(&pass) })
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
	if len(probes) > 0 {
		idents, err := json.Marshal(probes)
		if err != nil {
			return nil, nil, 0, err
		}
		if ch.Type == "DELETE" {
			// A deleted row cannot be checked against policies any more:
			// subscribers with SELECT on the table get the old record,
			// the others only its key.
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
		} else {
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
	}
	if batch.Len() == 1 {
		return vis, pass, 0, nil
	}
	batch.Queue(`rollback`)

	conn, err := h.opts.DB.API.Acquire(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	defer conn.Release()
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		// The connection may be mid-transaction; make it unusable rather
		// than return it to the pool in that state.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		return nil, nil, 1, err
	}
	return vis, pass, 1, nil
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
