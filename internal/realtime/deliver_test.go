package realtime

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/testutil"
)

// The stream has a transaction as soon as its commit is in the WAL, a
// moment before other sessions see it: the commit wait must wait while
// the transaction is in progress, return once it ended, and not wait for
// one that ended long ago.
func TestCommitWait(t *testing.T) {
	db := testutil.NewDB(t)
	ctx := context.Background()
	tx, err := db.DB.Admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var full string
	if err := tx.QueryRow(ctx, `select pg_current_xact_id()::text`).Scan(&full); err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(full, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	h := &Hub{opts: HubOptions{DB: db.DB}}
	wait := func(xid uint32) error {
		b := &pgx.Batch{}
		b.Queue(`begin read only`)
		queueCommitWait(b, xid)
		b.Queue(`rollback`)
		return h.sendBatch(ctx, b)
	}

	done := make(chan error, 1)
	go func() { done <- wait(uint32(n)) }()
	select {
	case err := <-done:
		t.Fatalf("returned while the transaction is in progress: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("after commit: %v", err)
	}
	// Giving up would be an error.
	if err := wait(3); err != nil {
		t.Fatalf("long finished transaction: %v", err)
	}
}

// Binding ids are derived from what a binding asks for: identical
// bindings on different joins share an id (and so a frame), different
// bindings of one join never do, and no id is 0.
func TestBindingIDs(t *testing.T) {
	a := []*ChangeBinding{{Event: "INSERT", Schema: "public", Table: "t"}, {Event: "*", Schema: "public", Table: "t", Filter: "id=eq.1"}}
	b := []*ChangeBinding{{Event: "INSERT", Schema: "public", Table: "t"}}
	assignBindingIDs(a)
	assignBindingIDs(b)
	if a[0].ID != b[0].ID {
		t.Errorf("identical bindings got ids %d and %d", a[0].ID, b[0].ID)
	}
	if a[0].ID == a[1].ID {
		t.Errorf("different bindings of one join share id %d", a[0].ID)
	}
	for _, x := range append(a, b...) {
		if x.ID <= 0 || x.ID >= 1<<27 {
			t.Errorf("id %d out of range", x.ID)
		}
	}
	// Fields are separated: moving a character from one to the next
	// changes the id.
	c := []*ChangeBinding{{Event: "INSERT", Schema: "publi", Table: "ct"}}
	assignBindingIDs(c)
	if c[0].ID == a[0].ID {
		t.Error("fields are not separated in the hash")
	}
	// Two different bindings whose hashes collide (found among enough
	// filters, 27 bits being few) get different ids in one join.
	seen := map[int]string{}
	var x, y string
	for i := 0; x == ""; i++ {
		f := "id=eq." + strconv.Itoa(i)
		id := bindingHash(&ChangeBinding{Event: "*", Schema: "public", Table: "t", Filter: f}, 0)
		if prev, ok := seen[id]; ok {
			x, y = prev, f
		}
		seen[id] = f
	}
	d := []*ChangeBinding{{Event: "*", Schema: "public", Table: "t", Filter: x}, {Event: "*", Schema: "public", Table: "t", Filter: y}}
	assignBindingIDs(d)
	if d[0].ID == d[1].ID {
		t.Errorf("bindings %q and %q of one join share id %d", x, y, d[0].ID)
	}
}

func TestFanOutCountsWhatEachCallWrote(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 1000, 10_000} {
		var calls atomic.Int64
		seen := make([]atomic.Bool, n)
		got := fanOut(n, func(i int, written *int) {
			calls.Add(1)
			if seen[i].Swap(true) {
				t.Errorf("n=%d: index %d sent twice", n, i)
			}
			if i%3 == 0 {
				*written++
			}
		})
		if want := (n + 2) / 3; got != want {
			t.Errorf("n=%d: fanOut counted %d written, want %d", n, got, want)
		}
		if calls.Load() != int64(n) {
			t.Errorf("n=%d: %d calls, want %d", n, calls.Load(), n)
		}
	}
}
