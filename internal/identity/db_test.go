package identity

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// replicaPool opens a pool of its own on the test database, as another
// Fluxbase process would.
func replicaPool(t *testing.T, tdb *testutil.TestDB) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), tdb.AdminDSN)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

func countKeys(t *testing.T, p *pgxpool.Pool, status string) int {
	t.Helper()
	var n int
	require.NoError(t, p.QueryRow(context.Background(),
		`select count(*) from fluxbase.signing_keys where status = $1`, status).Scan(&n))
	return n
}

func exp(d time.Duration) int64 { return time.Now().Add(d).Unix() }

func TestKeyGeneratedOnceAndStable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	admin := tdb.DB.Admin
	require.Zero(t, countKeys(t, admin, statusCurrent), "the template must not carry keys")

	s1, err := New(ctx, admin, defaultAuth(), nil)
	require.NoError(t, err)
	// A second replica, and a restart over a new pool, find the same key.
	s2, err := New(ctx, replicaPool(t, tdb), defaultAuth(), nil)
	require.NoError(t, err)
	s3, err := New(ctx, replicaPool(t, tdb), defaultAuth(), nil)
	require.NoError(t, err)

	assert.Equal(t, 1, countKeys(t, admin, statusCurrent))
	for _, s := range []*Service{s2, s3} {
		assert.Equal(t, s1.CurrentKeyID(), s.CurrentKeyID())
		assert.Equal(t, s1.AnonKey(), s.AnonKey(), "the anon key is stable across starts")
		assert.Equal(t, s1.ServiceRoleKey(), s.ServiceRoleKey())
	}
	assert.NotEqual(t, s1.AnonKey(), s1.ServiceRoleKey())

	tok, err := s1.Sign(map[string]any{"sub": "u1", "role": "authenticated", "exp": exp(time.Hour)})
	require.NoError(t, err)
	id, err := s3.Verify(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, "u1", id.Subject)

	// The key is stored as the schema says: PEM halves, thumbprint kid.
	var priv, pub string
	var created time.Time
	require.NoError(t, admin.QueryRow(ctx,
		`select private_key, public_key, created_at from fluxbase.signing_keys where kid = $1`,
		s1.CurrentKeyID()).Scan(&priv, &pub, &created))
	p, err := decodePrivatePEM(priv)
	require.NoError(t, err)
	kid, err := thumbprint(&p.PublicKey)
	require.NoError(t, err)
	assert.Equal(t, s1.CurrentKeyID(), kid)
	assert.Zero(t, created.Nanosecond(), "created_at is whole seconds: iat of the API keys")

	// The JWKS of another replica verifies a token the first one minted.
	w := httptest.NewRecorder()
	s2.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &set))
	require.Len(t, set.Keys, 1)
	_, err = jwt.Parse(tok, func(*jwt.Token) (any, error) { return jwkKey(t, set.Keys[0]), nil },
		jwt.WithValidMethods([]string{"ES256"}))
	require.NoError(t, err)
}

func TestConcurrentFirstStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	pools := []*pgxpool.Pool{replicaPool(t, tdb), replicaPool(t, tdb), replicaPool(t, tdb)}

	services := make([]*Service, len(pools))
	errs := make([]error, len(pools))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			services[i], errs[i] = New(ctx, p, defaultAuth(), nil)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var total int
	require.NoError(t, tdb.DB.Admin.QueryRow(ctx, `select count(*) from fluxbase.signing_keys`).Scan(&total))
	assert.Equal(t, 1, total, "exactly one key is generated")
	for _, s := range services[1:] {
		assert.Equal(t, services[0].CurrentKeyID(), s.CurrentKeyID())
		assert.Equal(t, services[0].AnonKey(), s.AnonKey())
	}
}

func TestRotateAndRevoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	s1, err := New(ctx, tdb.DB.Admin, defaultAuth(), nil)
	require.NoError(t, err)
	s2, err := New(ctx, replicaPool(t, tdb), defaultAuth(), nil)
	require.NoError(t, err)
	s2.minReloadGap = 0

	oldKid, oldAnon := s1.CurrentKeyID(), s1.AnonKey()
	oldTok, err := s1.Sign(map[string]any{"sub": "u1", "role": "authenticated", "exp": exp(time.Hour)})
	require.NoError(t, err)

	newKid, err := s1.Rotate(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, oldKid, newKid)
	assert.Equal(t, newKid, s1.CurrentKeyID())
	assert.NotEqual(t, oldAnon, s1.AnonKey(), "API keys come from the new key")
	assert.Equal(t, 1, countKeys(t, tdb.DB.Admin, statusCurrent))
	assert.Equal(t, 1, countKeys(t, tdb.DB.Admin, statusPrevious))

	newTok, err := s1.Sign(map[string]any{"sub": "u2", "role": "authenticated", "exp": exp(time.Hour)})
	require.NoError(t, err)
	for _, tok := range []string{oldTok, newTok, oldAnon, s1.AnonKey()} {
		_, err := s1.Verify(ctx, tok)
		require.NoError(t, err, "old and new tokens both verify after a rotation")
	}
	// The other replica has not reloaded yet: the new kid makes it do so.
	id, err := s2.Verify(ctx, newTok)
	require.NoError(t, err)
	assert.Equal(t, newKid, id.KeyID)
	assert.Equal(t, newKid, s2.CurrentKeyID(), "it now signs with the new key too")
	_, err = s2.Verify(ctx, oldTok)
	require.NoError(t, err)

	// Both keys are published while the previous one may still verify.
	w := httptest.NewRecorder()
	s1.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	assert.Contains(t, w.Body.String(), oldKid)
	assert.Contains(t, w.Body.String(), newKid)

	// Guard rails.
	assert.ErrorIs(t, s1.Revoke(ctx, newKid), ErrRevokeCurrent)
	assert.ErrorIs(t, s1.Revoke(ctx, "no-such-kid"), ErrNoSuchKey)

	require.NoError(t, s1.Revoke(ctx, oldKid))
	_, err = s1.Verify(ctx, oldTok)
	requireAuthError(t, err, CodeUnknownKey, "")
	_, err = s1.Verify(ctx, oldAnon)
	requireAuthError(t, err, CodeUnknownKey, "")
	_, err = s1.Verify(ctx, newTok)
	require.NoError(t, err)

	// The other replica stops accepting it at its next reload.
	require.NoError(t, s2.Reload(ctx))
	_, err = s2.Verify(ctx, oldTok)
	requireAuthError(t, err, CodeUnknownKey, "")
	assert.NotContains(t, jwksBody(t, s2), oldKid)

	var priv *string
	require.NoError(t, tdb.DB.Admin.QueryRow(ctx,
		`select private_key from fluxbase.signing_keys where kid = $1`, oldKid).Scan(&priv))
	assert.Nil(t, priv, "a revoked key keeps no private half")
	require.NoError(t, s1.Revoke(ctx, oldKid), "revoking twice is harmless")
}

func jwksBody(t *testing.T, s *Service) string {
	t.Helper()
	w := httptest.NewRecorder()
	s.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	return w.Body.String()
}

func TestAPIKeysFollowConfiguration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	admin := tdb.DB.Admin

	es, err := New(ctx, admin, defaultAuth(), nil)
	require.NoError(t, err)

	// A new issuer mints new keys once, then they are stable again.
	cfg := defaultAuth()
	cfg.JWT.Issuer = "https://api.example.com"
	a, err := New(ctx, admin, cfg, nil)
	require.NoError(t, err)
	b, err := New(ctx, replicaPool(t, tdb), cfg, nil)
	require.NoError(t, err)
	assert.NotEqual(t, es.AnonKey(), a.AnonKey())
	assert.Equal(t, a.AnonKey(), b.AnonKey())
	assert.Equal(t, es.CurrentKeyID(), a.CurrentKeyID(), "the signing key itself is kept")
	id, err := b.Verify(ctx, a.ServiceRoleKey())
	require.NoError(t, err)
	assert.Equal(t, RoleServiceRole, id.Role)

	// HS256 mode: the keys are HMACs of the secret, equally stable.
	hcfg := defaultAuth()
	hcfg.JWT.Algorithm = "HS256"
	hcfg.JWT.Secret = testSecret
	h1, err := New(ctx, admin, hcfg, nil)
	require.NoError(t, err)
	h2, err := New(ctx, replicaPool(t, tdb), hcfg, nil)
	require.NoError(t, err)
	assert.Equal(t, h1.AnonKey(), h2.AnonKey())
	parsed, _, err := jwt.NewParser().ParseUnverified(h1.AnonKey(), jwt.MapClaims{})
	require.NoError(t, err)
	assert.Equal(t, "HS256", parsed.Header["alg"])
	id, err = h2.Verify(ctx, h1.AnonKey())
	require.NoError(t, err)
	assert.Equal(t, RoleAnon, id.Role)
}

// TestRLSSeesCallerClaims is the end-to-end proof of the identity spine:
// a token goes through Middleware, PGRequest and InRequestTx, and row level
// security policies written with auth.uid() see exactly the caller.
func TestRLSSeesCallerClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	admin := tdb.DB.Admin

	const userA, userB = "0b7e4a8e-5a0c-4a53-9a55-6f0d0a8b0a01", "0b7e4a8e-5a0c-4a53-9a55-6f0d0a8b0b02"
	_, err := admin.Exec(ctx, `
		create table public.notes (
			id    serial primary key,
			owner uuid not null,
			body  text not null
		);
		alter table public.notes enable row level security;
		create policy notes_owner on public.notes using (owner = auth.uid());
		grant select, insert on public.notes to anon, authenticated, service_role;
		grant usage on sequence public.notes_id_seq to authenticated;
		insert into public.notes (owner, body) values
			('`+userA+`', 'a1'), ('`+userA+`', 'a2'), ('`+userB+`', 'b1');`)
	require.NoError(t, err)

	s, err := New(ctx, admin, defaultAuth(), nil)
	require.NoError(t, err)

	type seen struct {
		Notes   []string       `json:"notes"`
		UID     *string        `json:"uid"`
		Role    *string        `json:"role"`
		Email   *string        `json:"email"`
		User    string         `json:"user"`
		Method  string         `json:"method"`
		Path    string         `json:"path"`
		Headers map[string]any `json:"headers"`
	}
	h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		var out seen
		err := tdb.DB.InRequestTx(r.Context(), PGRequest(r, id, r.Method == http.MethodGet),
			func(ctx context.Context, tx pg.Tx) error {
				if r.Method == http.MethodPost {
					_, err := tx.Exec(ctx, `insert into public.notes (owner, body) values (auth.uid(), 'new')`)
					return err
				}
				return tx.QueryRow(ctx, `
					select coalesce((select array_agg(body order by body) from public.notes), '{}'),
					       auth.uid()::text, auth.role(), auth.email(), current_user,
					       current_setting('request.method'), current_setting('request.path'),
					       current_setting('request.headers')::jsonb`).
					Scan(&out.Notes, &out.UID, &out.Role, &out.Email, &out.User, &out.Method, &out.Path, &out.Headers)
			})
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, out)
	}))

	do := func(method string, headers ...string) (int, seen) {
		r := httptest.NewRequest(method, "/rest/v1/notes", nil)
		r.Header.Set("X-Test", "yes")
		for i := 0; i < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var out seen
		if w.Code == http.StatusOK {
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
		}
		return w.Code, out
	}
	userToken := func(sub string) string {
		tok, err := s.Sign(map[string]any{"sub": sub, "role": "authenticated", "email": sub[:8] + "@example.com", "exp": exp(time.Hour)})
		require.NoError(t, err)
		return tok
	}

	code, a := do(http.MethodGet, "apikey", s.AnonKey(), "Authorization", "Bearer "+userToken(userA))
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{"a1", "a2"}, a.Notes)
	assert.Equal(t, userA, *a.UID)
	assert.Equal(t, "authenticated", *a.Role)
	assert.Equal(t, "0b7e4a8e@example.com", *a.Email)
	assert.Equal(t, "authenticated", a.User)
	assert.Equal(t, "GET", a.Method)
	assert.Equal(t, "/rest/v1/notes", a.Path)
	assert.Equal(t, "yes", a.Headers["x-test"])

	code, b := do(http.MethodGet, "Authorization", "Bearer "+userToken(userB))
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{"b1"}, b.Notes)
	assert.Equal(t, userB, *b.UID)

	code, anon := do(http.MethodGet)
	require.Equal(t, http.StatusOK, code)
	assert.Empty(t, anon.Notes)
	assert.Nil(t, anon.UID)
	assert.Equal(t, "anon", *anon.Role)
	assert.Equal(t, "anon", anon.User)

	code, anonKey := do(http.MethodGet, "apikey", s.AnonKey())
	require.Equal(t, http.StatusOK, code)
	assert.Empty(t, anonKey.Notes)
	assert.Equal(t, "anon", anonKey.User)

	code, svc := do(http.MethodGet, "apikey", s.ServiceRoleKey())
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{"a1", "a2", "b1"}, svc.Notes, "service_role bypasses RLS")
	assert.Equal(t, "service_role", svc.User)

	// Writes run as the caller too: A's insert is A's row, seen by A only.
	code, _ = do(http.MethodPost, "Authorization", "Bearer "+userToken(userA))
	require.Equal(t, http.StatusOK, code)
	_, a = do(http.MethodGet, "Authorization", "Bearer "+userToken(userA))
	assert.Equal(t, []string{"a1", "a2", "new"}, a.Notes)
	_, b = do(http.MethodGet, "Authorization", "Bearer "+userToken(userB))
	assert.Equal(t, []string{"b1"}, b.Notes)

	// A forged token changes nothing: it never reaches the database.
	forged := newKey(t, statusCurrent)
	code, _ = do(http.MethodGet, "Authorization", "Bearer "+signES(t, forged.private, s.CurrentKeyID(),
		jwt.MapClaims{"sub": userB, "role": "service_role", "iss": "fluxbase", "exp": exp(time.Hour)}))
	assert.Equal(t, http.StatusUnauthorized, code)

	// A validly signed token cannot switch to a role the authenticator was
	// not granted.
	superTok, err := s.Sign(map[string]any{"sub": userA, "role": "postgres", "exp": exp(time.Hour)})
	require.NoError(t, err)
	code, _ = do(http.MethodGet, "Authorization", "Bearer "+superTok)
	assert.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, code)
}

func TestNewRejectsBadInput(t *testing.T) {
	_, err := New(context.Background(), nil, defaultAuth(), nil)
	require.Error(t, err)
}
