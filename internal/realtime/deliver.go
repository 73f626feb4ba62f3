package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/identity"
)

// changeEvent is the postgres_changes payload, in Supabase's shape.
type changeEvent struct {
	IDs  []int      `json:"ids"`
	Data changeData `json:"data"`
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
	vis, pass, err := h.evaluate(ctx, ch, ids, filters)
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
	for _, j := range order {
		data := changeData{Schema: ch.Schema, Table: ch.Table, Type: ch.Type, EventType: ch.Type,
			CommitTimestamp: ch.CommitTimestamp.UTC().Format(time.RFC3339Nano), Columns: ch.Columns,
			Record: ch.Record, OldRecord: ch.OldRecord}
		if keyOnly[j] {
			data.OldRecord = onlyKeys(ch.OldRecord, ch.KeyColumns)
		}
		payload, err := json.Marshal(changeEvent{IDs: perJoin[j], Data: data})
		if err != nil {
			continue
		}
		j.conn.send(Message{Topic: j.Topic, Event: "postgres_changes", JoinRef: j.JoinRef, Payload: payload})
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

// evaluate runs the filters and the visibility checks in one round trip.
func (h *Hub) evaluate(ctx context.Context, ch *Change, ids map[string]identity.Identity, filters []*rowFilter) (map[string]visibility, []bool, error) {
	table := pgx.Identifier{ch.Schema, ch.Table}.Sanitize()
	record := ch.Record
	if ch.Type == "DELETE" {
		record = ch.OldRecord
	}
	rec, err := json.Marshal(record)
	if err != nil {
		return nil, nil, err
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
	for key, id := range ids {
		role := id.Role
		if role == "" {
			role = identity.RoleAnon
		}
		if role == identity.RoleServiceRole {
			vis[key] = visibility{visible: true}
			continue
		}
		batch.Queue(`select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`, role, string(id.RawClaims))
		if ch.Type == "DELETE" {
			// A deleted row cannot be checked against policies any more:
			// subscribers with SELECT on the table get the old record,
			// the others only its key.
			batch.Queue(`select has_table_privilege(current_user, $1::regclass, 'SELECT')`, table).
				QueryRow(func(row pgx.Row) error {
					var ok bool
					err := row.Scan(&ok)
					vis[key] = visibility{visible: true, keyOnly: !ok}
					return err
				})
			continue
		}
		batch.Queue(visibleSQL(table, ch.KeyColumns, ch.Columns), string(rec)).
			QueryRow(func(row pgx.Row) error {
				var ok bool
				err := row.Scan(&ok)
				vis[key] = visibility{visible: ok}
				return err
			})
	}
	batch.Queue(`rollback`)

	conn, err := h.opts.DB.API.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Release()
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		// The connection may be mid-transaction; make it unusable rather
		// than return it to the pool in that state.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	return vis, pass, nil
}

// visibleSQL asks whether the changed row is visible to the current role:
// the table is read by key, so its row level security policies decide.
// Without a key every column is compared.
func visibleSQL(table string, keys []string, columns []ColumnInfo) string {
	if len(keys) == 0 {
		for _, c := range columns {
			keys = append(keys, c.Name)
		}
	}
	conds := make([]string, len(keys))
	for i, k := range keys {
		id := pgx.Identifier{k}.Sanitize()
		conds[i] = "t." + id + " is not distinct from r." + id
	}
	return `select exists (select 1 from ` + table + ` t, json_populate_record(null::` + table + `, $1::json) r where ` +
		strings.Join(conds, " and ") + `)`
}
