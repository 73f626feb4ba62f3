package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// collector gathers the changes a stream delivers.
type collector struct {
	mu      sync.Mutex
	changes []*Change
	notify  chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) add(ch *Change) {
	c.mu.Lock()
	c.changes = append(c.changes, ch)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// wait returns once n changes arrived, failing after a deadline.
func (c *collector) wait(t *testing.T, n int) []*Change {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		if len(c.changes) >= n {
			out := append([]*Change(nil), c.changes...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-deadline:
			t.Fatalf("got %d changes, want %d", len(c.changes), n)
		}
	}
}

func startStream(t *testing.T, dsn string, onState func(StreamEvent)) (*Stream, *collector) {
	t.Helper()
	col := newCollector()
	s := NewStream(StreamOptions{DSN: dsn, OnChange: col.add, OnState: onState, StatusInterval: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		waitSlotGone(t, dsn, s.SlotName())
	})
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := s.WaitLive(wctx); err != nil {
		t.Fatal("stream did not go live:", err)
	}
	return s, col
}

// waitSlotGone waits for the server to drop a temporary slot after its
// connection closed (the backend exits asynchronously), so that the test
// database can be dropped.
func waitSlotGone(t *testing.T, dsn, slot string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for range 100 {
		var n int
		if err := conn.QueryRow(context.Background(), `select count(*) from pg_replication_slots where slot_name = $1`, slot).Scan(&n); err != nil || n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("slot %s still exists after the stream stopped", slot)
}

func exec(t *testing.T, db *testutil.TestDB, sql string, args ...any) {
	t.Helper()
	if _, err := db.DB.Admin.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestStreamDeliversChangesInCommitOrder(t *testing.T) {
	db := testutil.NewDB(t)
	exec(t, db, `create table public.items (id int primary key, name text, tags text[], doc jsonb, price numeric, ok boolean, at timestamptz)`)
	exec(t, db, `create table public.quiet (id int primary key)`)
	exec(t, db, `select realtime.enable_realtime('public.items')`)
	_, col := startStream(t, db.AdminDSN, nil)

	exec(t, db, `insert into public.items values (1, 'one', '{a,b}', '{"k": [1, 2]}', 9.50, true, '2026-01-02 03:04:05+00')`)
	exec(t, db, `insert into public.quiet values (1)`) // not published
	exec(t, db, `begin; update public.items set name = 'uno' where id = 1; insert into public.items (id) values (2); commit`)
	exec(t, db, `delete from public.items where id = 2`)

	got := col.wait(t, 4)
	types := []string{}
	for _, c := range got {
		if c.Table != "items" || c.Schema != "public" {
			t.Fatalf("change from %s.%s", c.Schema, c.Table)
		}
		types = append(types, c.Type)
	}
	if strings.Join(types, ",") != "INSERT,UPDATE,INSERT,DELETE" {
		t.Fatalf("order = %v", types)
	}
	ins := got[0]
	want := map[string]string{"id": `1`, "name": `"one"`, "tags": `["a","b"]`, "doc": `{"k": [1, 2]}`, "price": `9.50`, "ok": `true`}
	for k, v := range want {
		if string(ins.Record[k]) != v {
			t.Errorf("record[%s] = %s, want %s", k, ins.Record[k], v)
		}
	}
	if ins.CommitTimestamp.IsZero() || time.Since(ins.CommitTimestamp) > time.Minute {
		t.Errorf("commit timestamp %v", ins.CommitTimestamp)
	}
	if len(ins.Columns) != 7 || ins.Columns[0] != (ColumnInfo{"id", "int4"}) || ins.Columns[2].Type != "_text" {
		t.Errorf("columns = %+v", ins.Columns)
	}
	if got[1].CommitLSN != got[2].CommitLSN || got[1].Seq >= got[2].Seq {
		t.Errorf("one transaction's changes must share its commit and keep their order")
	}
	// Default replica identity: the delete carries the key only.
	del := got[3]
	if string(del.OldRecord["id"]) != "2" || len(del.OldRecord) != 1 || strings.Join(del.KeyColumns, ",") != "id" {
		t.Errorf("delete old record = %v keys %v", del.OldRecord, del.KeyColumns)
	}
}

func TestStreamReplicaIdentityFullAndLargeRows(t *testing.T) {
	db := testutil.NewDB(t)
	exec(t, db, `create table public.docs (id int primary key, body jsonb, note text)`)
	exec(t, db, `alter table public.docs replica identity full`)
	exec(t, db, `select realtime.enable_realtime('public.docs')`)
	_, col := startStream(t, db.AdminDSN, nil)

	big := `{"blob": "` + strings.Repeat("x", 1<<20) + `"}`
	exec(t, db, `insert into public.docs values (1, $1, 'n')`, big)
	exec(t, db, `update public.docs set note = 'm' where id = 1`)
	got := col.wait(t, 2)
	var doc struct{ Blob string }
	if err := json.Unmarshal(got[0].Record["body"], &doc); err != nil || len(doc.Blob) != 1<<20 {
		t.Fatalf("1 MB jsonb not delivered whole: %v (%d bytes)", err, len(doc.Blob))
	}
	upd := got[1]
	if string(upd.OldRecord["note"]) != `"n"` || string(upd.Record["note"]) != `"m"` {
		t.Errorf("old/new = %s/%s", upd.OldRecord["note"], upd.Record["note"])
	}
	// The unchanged TOASTed body comes from the full old row.
	if len(upd.Record["body"]) < 1<<20 || len(upd.Unchanged) != 0 {
		t.Errorf("unchanged toasted column not filled from the old row (unchanged %v)", upd.Unchanged)
	}
}

func TestEnableDisableRealtime(t *testing.T) {
	db := testutil.NewDB(t)
	exec(t, db, `create table public.t (id int primary key)`)
	exec(t, db, `select realtime.enable_realtime('public.t')`)
	exec(t, db, `select realtime.enable_realtime('public.t')`) // idempotent
	var n int
	if err := db.DB.Admin.QueryRow(context.Background(), `select count(*) from realtime.realtime_tables where "table" = 't'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("realtime_tables: %d %v", n, err)
	}
	exec(t, db, `select realtime.disable_realtime('public.t')`)
	exec(t, db, `select realtime.disable_realtime('public.t')`)
	if err := db.DB.Admin.QueryRow(context.Background(), `select count(*) from realtime.realtime_tables`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after disable: %d %v", n, err)
	}
}
