package auth_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/auth"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/testutil"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

// outboxRow is one auth.mail_outbox row as the tests inspect it.
type outboxRow struct {
	State     string
	Attempts  int
	LastError string
	HasBody   bool
}

func outboxRows(t *testing.T, db *pgxpool.Pool, recipient string) []outboxRow {
	t.Helper()
	rows, err := db.Query(context.Background(), `select state, attempts, coalesce(last_error, ''), message is not null
		from auth.mail_outbox where recipient = $1 order by created_at`, recipient)
	require.NoError(t, err)
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		require.NoError(t, rows.Scan(&r.State, &r.Attempts, &r.LastError, &r.HasBody))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// assertDropped checks that a request for recipient was recorded and sent
// nothing: a dropped row with the reason, and no message.
func assertDropped(t *testing.T, db *pgxpool.Pool, recipient, reason string) {
	t.Helper()
	rows := outboxRows(t, db, recipient)
	require.NotEmpty(t, rows, "no outbox row for %s", recipient)
	for _, r := range rows {
		assert.Equal(t, outboxRow{State: "dropped", LastError: reason}, r)
	}
}

// waitOutbox waits until every outbox row of recipient is in state.
func waitOutbox(t *testing.T, db *pgxpool.Pool, recipient string, cond func([]outboxRow) bool) []outboxRow {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := outboxRows(t, db, recipient)
		if cond(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox rows of %s: %+v", recipient, rows)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// forward accepts on ln and relays every connection to target, until the
// test ends.
func forward(t *testing.T, ln net.Listener, target string) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
}

// TestMailOutboxSurvivesSMTPOutage: with the mail server down, recovery
// is still acknowledged at once; the message stays queued and is retried
// with backoff; once the server is back it is delivered, and the row is
// marked sent with its message erased.
func TestMailOutboxSurvivesSMTPOutage(t *testing.T) {
	t.Parallel()
	smtpPort := testservers.FreePort(t) // nothing listens here yet
	s, mp := mailServer(t, func(c *config.Config) {
		c.Auth.SMTP.Port = smtpPort
		c.Auth.Mailer.MaxFrequency = 0
		c.Auth.Mailer.RetryBackoff = 50 * time.Millisecond
		c.Auth.Mailer.MaxAttempts = 100
	})
	admin := bearer(s.ServiceRoleKey)
	res, body := s.Do(t, "POST", "/auth/v1/admin/users", admin, map[string]any{"email": "outage@example.com", "password": "password-1", "email_confirm": true})
	require.Equal(t, 200, res.StatusCode, "%s", body)

	res, body = s.Do(t, "POST", "/auth/v1/recover", hdr(s), map[string]any{"email": "outage@example.com"})
	require.Equal(t, 200, res.StatusCode, "an SMTP outage must not fail the request: %s", body)

	rows := waitOutbox(t, s.DB.DB.Admin, "outage@example.com", func(r []outboxRow) bool {
		return len(r) == 1 && r[0].Attempts >= 3
	})
	assert.Equal(t, "pending", rows[0].State)
	assert.True(t, rows[0].HasBody)
	assert.NotEmpty(t, rows[0].LastError)

	// A message older than the links it carries is not worth sending.
	res, body = s.Do(t, "POST", "/auth/v1/admin/users", admin, map[string]any{"email": "stale@example.com", "password": "password-1", "email_confirm": true})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	res, body = s.Do(t, "POST", "/auth/v1/recover", hdr(s), map[string]any{"email": "stale@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	_, err := s.DB.DB.Admin.Exec(context.Background(), `update auth.mail_outbox set created_at = now() - interval '2 hours'
		where recipient = 'stale@example.com'`)
	require.NoError(t, err)
	rows = waitOutbox(t, s.DB.DB.Admin, "stale@example.com", func(r []outboxRow) bool { return len(r) == 1 && r[0].State == "failed" })
	assert.Contains(t, rows[0].LastError, "expired")
	assert.False(t, rows[0].HasBody)

	// The mail server comes back on the configured port.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", smtpPort))
	require.NoError(t, err)
	forward(t, ln, fmt.Sprintf("%s:%d", mp.SMTPHost, mp.SMTPPort))

	rows = waitOutbox(t, s.DB.DB.Admin, "outage@example.com", func(r []outboxRow) bool { return len(r) == 1 && r[0].State == "sent" })
	msg := mp.Latest(t, "outage@example.com")
	assert.Equal(t, "Reset your password", msg.Subject)
	assert.False(t, rows[0].HasBody, "a sent message is erased")
	assert.Empty(t, rows[0].LastError)
	// The code it carries works.
	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "recovery", "email": "outage@example.com", "token": testservers.Code(msg.Text, 6)})
	assert.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Equal(t, 1, mp.Count(t, "outage@example.com"))
	assert.Equal(t, 0, mp.Count(t, "stale@example.com"))
}

// TestMailOutboxGivesUp: a message the server never takes is kept as
// failed after auth.mailer.max_attempts, for inspection.
func TestMailOutboxGivesUp(t *testing.T) {
	t.Parallel()
	s, _ := mailServer(t, func(c *config.Config) {
		c.Auth.SMTP.Port = testservers.FreePort(t)
		c.Auth.Mailer.RetryBackoff = 10 * time.Millisecond
		c.Auth.Mailer.MaxAttempts = 3
	})
	res, body := s.Do(t, "POST", "/auth/v1/magiclink", hdr(s), map[string]any{"email": "never@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	rows := waitOutbox(t, s.DB.DB.Admin, "never@example.com", func(r []outboxRow) bool { return len(r) == 1 && r[0].State == "failed" })
	assert.Equal(t, 3, rows[0].Attempts)
	assert.True(t, rows[0].HasBody, "a failed message is kept so that it can be queued again")
	assert.NotEmpty(t, rows[0].LastError)
}

// mailReplica is one auth server over a shared database with its own pool
// and, when worker is set, its own outbox worker, as another Fluxbase
// process would have. stop ends the worker, as a killed process would.
func mailReplica(t *testing.T, tdb *testutil.TestDB, mp *testservers.Mailpit, worker bool) (url string, stop func()) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, tdb.AdminDSN)
	require.NoError(t, err)
	cfg := config.Default()
	cfg.Auth.Password.BcryptCost = 4
	cfg.Auth.RateLimit.Enabled = false
	cfg.Auth.Mailer.MaxFrequency = 0
	cfg.Auth.SMTP = config.SMTPConfig{Host: mp.SMTPHost, Port: mp.SMTPPort, From: "no-reply@example.com", TLS: "none"}
	log := slog.New(slog.DiscardHandler)
	ids, err := identity.New(ctx, pool, cfg.Auth, log)
	require.NoError(t, err)
	svc, err := auth.New(ctx, &pg.DB{Admin: pool, API: tdb.DB.API}, ids, cfg, log)
	require.NoError(t, err)
	r := chi.NewRouter()
	r.Route("/api/v1/auth", svc.MountNative)
	srv := httptest.NewServer(r)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if worker {
		wg.Go(func() { _ = svc.RunMailer(runCtx) })
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			srv.Close()
			pool.Close()
		})
	}
	t.Cleanup(stop)
	return srv.URL, stop
}

// TestMailOutboxAcrossReplicas: a replica that acknowledged requests and
// died before its worker sent anything loses nothing: two other replicas
// sharing the database deliver every message, each exactly once.
func TestMailOutboxAcrossReplicas(t *testing.T) {
	t.Parallel()
	tdb := testutil.NewDB(t)
	mp := testservers.StartMailpit(t)
	const n = 12
	addr := func(i int) string { return fmt.Sprintf("replica%d@example.com", i) }

	dead, stop := mailReplica(t, tdb, mp, false)
	for i := range n / 2 {
		code, body := post(t, dead+"/api/v1/auth/magiclink", map[string]any{"email": addr(i)})
		require.Equal(t, 200, code, "%v", body)
	}
	stop()
	for i := range n / 2 {
		assert.Equal(t, []outboxRow{{State: "pending", HasBody: true}}, outboxRows(t, tdb.DB.Admin, addr(i)))
	}

	a, _ := mailReplica(t, tdb, mp, true)
	b, _ := mailReplica(t, tdb, mp, true)
	var wg sync.WaitGroup
	for i := n / 2; i < n; i++ {
		base := a
		if i%2 == 1 {
			base = b
		}
		wg.Go(func() {
			code, body := post(t, base+"/api/v1/auth/magiclink", map[string]any{"email": addr(i)})
			assert.Equal(t, 200, code, "%v", body)
		})
	}
	wg.Wait()
	for i := range n {
		rows := waitOutbox(t, tdb.DB.Admin, addr(i), func(r []outboxRow) bool { return len(r) == 1 && r[0].State == "sent" })
		assert.Equal(t, 1, rows[0].Attempts, addr(i))
	}
	for i := range n {
		assert.Len(t, mp.WaitForCount(t, addr(i), 1), 1, addr(i))
	}
	// Nothing arrives late either.
	time.Sleep(300 * time.Millisecond)
	for i := range n {
		assert.Equal(t, 1, mp.Count(t, addr(i)), addr(i))
	}
	var latency []float64
	rows, err := tdb.DB.Admin.Query(context.Background(), `select extract(epoch from sent_at - created_at)::float8 * 1000
		from auth.mail_outbox where state = 'sent' and recipient like 'replica%' order by 1`)
	require.NoError(t, err)
	for rows.Next() {
		var ms float64
		require.NoError(t, rows.Scan(&ms))
		latency = append(latency, ms)
	}
	require.NoError(t, rows.Err())
	t.Logf("queued-to-sent latency of the messages queued while workers ran: %v ms", latency)
}

// TestMailTimingExistingVsUnknown measures how long /recover and
// /magiclink take for an address with an account and one without. It
// asserts nothing about time (the machine is noisy); it logs the
// distributions, which docs/auth-flows.md quotes. Both paths look the
// address up, read the template and write one outbox batch in one round
// trip; only the existing one's batch also issues the token.
func TestMailTimingExistingVsUnknown(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	s, _ := mailServer(t, func(c *config.Config) {
		c.Auth.Mailer.MaxFrequency = 0
		c.Auth.RateLimit.Enabled = false
	})
	res, body := s.Do(t, "POST", "/auth/v1/admin/users", bearer(s.ServiceRoleKey), map[string]any{"email": "timing@example.com", "password": "password-1", "email_confirm": true})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	const rounds = 80
	for _, ep := range []struct {
		name, path string
		extra      map[string]any
	}{
		{"/auth/v1/recover", "/auth/v1/recover", nil},
		{"/api/v1/auth/magiclink (create_user false)", "/api/v1/auth/magiclink", map[string]any{"create_user": false}},
	} {
		var known, unknown []time.Duration
		for i := range 2*rounds + 10 {
			email := "timing@example.com"
			if i%2 == 1 {
				email = fmt.Sprintf("nobody%d@example.com", i)
			}
			b := map[string]any{"email": email}
			for k, v := range ep.extra {
				b[k] = v
			}
			start := time.Now()
			res, body := s.Do(t, "POST", ep.path, hdr(s), b)
			d := time.Since(start)
			require.Equal(t, 200, res.StatusCode, "%s", body)
			if i < 10 {
				continue // warm-up: connections, prepared statements
			}
			if i%2 == 1 {
				unknown = append(unknown, d)
			} else {
				known = append(known, d)
			}
		}
		t.Logf("%s: existing address %s; unknown address %s", ep.name, quantiles(known), quantiles(unknown))
	}
}

func quantiles(ds []time.Duration) string {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(time.Microsecond) }
	return fmt.Sprintf("p10 %v, median %v, p90 %v (n=%d)", q(0.1), q(0.5), q(0.9), len(ds))
}

// TestMailOutboxUnknownAddresses: a request that mails nothing is recorded
// as dropped, with the reason and no message; mail flows refuse at once,
// for every address alike, when no SMTP server is configured.
func TestMailOutboxUnknownAddresses(t *testing.T) {
	t.Parallel()
	s, _ := mailServer(t, func(c *config.Config) { c.Auth.Mailer.MaxFrequency = 0 })
	res, body := s.Do(t, "POST", "/auth/v1/recover", hdr(s), map[string]any{"email": "nobody@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assertDropped(t, s.DB.DB.Admin, "nobody@example.com", "no account")
	res, body = s.Do(t, "POST", "/auth/v1/resend", hdr(s), map[string]any{"type": "signup", "email": "nobody2@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assertDropped(t, s.DB.DB.Admin, "nobody2@example.com", "no account")

	noSMTP := apitest.NewServer(t)
	admin := bearer(noSMTP.ServiceRoleKey)
	res, body = noSMTP.Do(t, "POST", "/auth/v1/admin/users", admin, map[string]any{"email": "known@example.com", "password": "password-1", "email_confirm": true})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	var answers []string
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		for _, path := range []string{"/auth/v1/recover", "/auth/v1/otp"} {
			res, body := noSMTP.Do(t, "POST", path, hdr(noSMTP), map[string]any{"email": email, "create_user": false})
			assert.Equal(t, 500, res.StatusCode, "%s", body)
			answers = append(answers, strings.ReplaceAll(string(body), email, "x"))
		}
	}
	assert.Equal(t, answers[:2], answers[2:], "the answer without SMTP does not depend on the address")
	var n int
	require.NoError(t, noSMTP.DB.DB.Admin.QueryRow(context.Background(), `select count(*) from auth.mail_outbox`).Scan(&n))
	assert.Zero(t, n)
}
