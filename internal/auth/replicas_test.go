package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/auth"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

// replica is one auth server over a shared database, with its own pool,
// as another Fluxbase process would have.
func replica(t *testing.T, tdb *testutil.TestDB) string {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, tdb.AdminDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	cfg := config.Default()
	cfg.Auth.Password.BcryptCost = 4
	log := slog.New(slog.DiscardHandler)
	ids, err := identity.New(ctx, pool, cfg.Auth, log)
	require.NoError(t, err)
	svc, err := auth.New(ctx, &pg.DB{Admin: pool, API: tdb.DB.API}, ids, cfg, log)
	require.NoError(t, err)
	r := chi.NewRouter()
	r.Route("/auth/v1", svc.MountGoTrue)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

func post(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

// TestRefreshAcrossReplicas: two replicas sharing one database refresh the
// same token concurrently; every call succeeds, all get the one live token,
// and a later reuse seen by either replica revokes the family.
func TestRefreshAcrossReplicas(t *testing.T) {
	t.Parallel()
	tdb := testutil.NewDB(t)
	a, b := replica(t, tdb), replica(t, tdb)
	code, ss := post(t, a+"/auth/v1/signup", map[string]any{"email": "two@example.com", "password": "two-replicas"})
	require.Equal(t, 200, code, "%v", ss)
	rt := ss["refresh_token"].(string)

	const n = 20
	got := make([]string, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		base := a
		if i%2 == 1 {
			base = b
		}
		wg.Go(func() {
			<-start
			c, out := post(t, base+"/auth/v1/token?grant_type=refresh_token", map[string]any{"refresh_token": rt})
			codes[i] = c
			if s, ok := out["refresh_token"].(string); ok {
				got[i] = s
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.Equal(t, 200, codes[i], "call %d", i)
		assert.Equal(t, got[0], got[i])
	}
	var live int
	require.NoError(t, tdb.DB.Admin.QueryRow(context.Background(), `select count(*) from auth.refresh_tokens where not revoked`).Scan(&live))
	assert.Equal(t, 1, live)

	// Rotate twice more on b; the original token, presented to a outside
	// the tolerated cases, now revokes the family.
	code, out := post(t, b+"/auth/v1/token?grant_type=refresh_token", map[string]any{"refresh_token": got[0]})
	require.Equal(t, 200, code)
	code, _ = post(t, b+"/auth/v1/token?grant_type=refresh_token", map[string]any{"refresh_token": out["refresh_token"]})
	require.Equal(t, 200, code)
	_, err := tdb.DB.Admin.Exec(context.Background(), `update auth.refresh_tokens set updated_at = now() - interval '1 hour'`)
	require.NoError(t, err)
	code, out = post(t, a+"/auth/v1/token?grant_type=refresh_token", map[string]any{"refresh_token": rt})
	assert.Equal(t, 400, code)
	assert.Equal(t, "refresh_token_already_used", out["error_code"])
	require.NoError(t, tdb.DB.Admin.QueryRow(context.Background(), `select count(*) from auth.sessions`).Scan(&live))
	assert.Zero(t, live, "the session is gone on both replicas")
}
