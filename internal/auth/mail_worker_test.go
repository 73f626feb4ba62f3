package auth

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

func TestMailBackoff(t *testing.T) {
	base := 30 * time.Second
	for attempts := 1; attempts <= 20; attempts++ {
		want := min(base<<(attempts-1), mailMaxBackoff)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := mailBackoff(base, attempts)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v, want within [%v, %v]", attempts, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("attempt %d: %d distinct waits in 50: no jitter", attempts, len(seen))
		}
	}
}

func TestOutboxRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	cfg := config.Default()
	cfg.Auth.Password.BcryptCost = 4
	cfg.Auth.Mailer.OutboxRetention = 24 * time.Hour
	log := slog.New(slog.DiscardHandler)
	ids, err := identity.New(ctx, tdb.DB.Admin, cfg.Auth, log)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, tdb.DB, ids, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tdb.DB.Admin.Exec(ctx, `insert into auth.mail_outbox (id, kind, recipient, state, message, updated_at) values
		(gen_random_uuid(), 'recovery', 'sent-old', 'sent', null, now() - interval '2 days'),
		(gen_random_uuid(), 'recovery', 'dropped-old', 'dropped', null, now() - interval '2 days'),
		(gen_random_uuid(), 'recovery', 'failed-old', 'failed', 'v1:x', now() - interval '2 days'),
		(gen_random_uuid(), 'recovery', 'pending-old', 'pending', 'v1:x', now() - interval '2 days'),
		(gen_random_uuid(), 'recovery', 'sent-new', 'sent', null, now() - interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	if err := s.cleanOutbox(ctx); err != nil {
		t.Fatal(err)
	}
	var left string
	if err := tdb.DB.Admin.QueryRow(ctx, `select string_agg(recipient, ',' order by recipient) from auth.mail_outbox`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != "pending-old,sent-new" {
		t.Fatalf("left after cleaning: %s", left)
	}
}
