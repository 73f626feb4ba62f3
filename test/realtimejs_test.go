package test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRealtimeJS drives @supabase/realtime-js against the built binary:
// postgres_changes with a filter over both protocol versions, broadcast
// with self and ack, and presence track, sync and leave. The database
// changes are made by SQL the JavaScript test posts to a small endpoint
// of this test process.
func TestRealtimeJS(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	in := start(t, dir, nil)
	in.waitReady(90 * time.Second)
	anon, service := instanceKeys(t, dir)

	ctx := context.Background()
	db, err := pgx.Connect(ctx, embeddedURL(t, dir, "fluxbase"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `
		create table public.todos (id bigserial primary key, list_id int not null, title text not null, done boolean not null default false);
		alter table public.todos replica identity full;
		grant select on public.todos to anon, authenticated;
		select realtime.enable_realtime('public.todos');`); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stmt, _ := io.ReadAll(r.Body)
		if _, err := db.Exec(r.Context(), string(stmt)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	runNodeTest(t, "realtime.test.mjs", map[string]string{
		"FLUXBASE_URL":              in.url,
		"FLUXBASE_ANON_KEY":         anon,
		"FLUXBASE_SERVICE_ROLE_KEY": service,
		"SQL_URL":                   "http://" + ln.Addr().String(),
	})
	in.stop()
}
