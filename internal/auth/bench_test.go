package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// The auth benchmarks report each figure against a baseline measured in
// the same run, interleaved with it, because these machines are shared and
// noisy: "ratio" is service time over baseline time.
//
//	make bench-auth

func benchServer(b *testing.B) *apitest.Server {
	return apitest.NewServer(b, func(c *config.Config) { c.Auth.RateLimit.Enabled = false })
}

// interleave runs service and baseline alternately b.N times each and
// reports both per-op times and their ratio.
func interleave(b *testing.B, service, baseline func()) {
	b.Helper()
	var ts, tb time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		service()
		t1 := time.Now()
		baseline()
		t2 := time.Now()
		ts += t1.Sub(t0)
		tb += t2.Sub(t1)
	}
	b.StopTimer()
	b.ReportMetric(float64(ts.Nanoseconds())/float64(b.N), "ns/service-op")
	b.ReportMetric(float64(tb.Nanoseconds())/float64(b.N), "ns/baseline-op")
	b.ReportMetric(float64(ts)/float64(tb), "ratio")
	b.ReportMetric(float64(b.N)/ts.Seconds(), "service-ops/s")
}

// BenchmarkAuthRefresh: POST /auth/v1/token?grant_type=refresh_token over
// HTTP against pgx running the same statements (lookup, session and token
// row locks, rotation, session update, user load) directly.
func BenchmarkAuthRefresh(b *testing.B) {
	s := benchServer(b)
	ctx := context.Background()
	tok := signUp(b, s, "bench-refresh@example.com", "bench-password").RefreshToken
	base := signIn(b, s, "bench-refresh@example.com", "bench-password")
	pool := s.DB.DB.Admin
	sid := claimsOf2(b, base.AccessToken)
	uid := base.User["id"].(string)
	// The baseline's chain: plain random tokens in the same session.
	next := func() (string, []byte) {
		raw := make([]byte, 24)
		_, _ = rand.Read(raw)
		t := base64.RawURLEncoding.EncodeToString(raw)
		h := sha256.Sum256([]byte(t))
		return t, h[:]
	}
	_, h := next()
	_, err := pool.Exec(ctx, `insert into auth.refresh_tokens (token_hash, session_id, user_id) values ($1, $2, $3)`, h, sid, uid)
	require.NoError(b, err)
	interleave(b, func() {
		res, body := refreshTok(b, s, tok)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("refresh: %d %s", res.StatusCode, body)
		}
		tok = decode[session](b, body).RefreshToken
	}, func() {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var s2 string
			if err := pool.QueryRow(ctx, `select session_id::text from auth.refresh_tokens where token_hash = $1`, h).Scan(&s2); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `select id from auth.sessions where id = $1 for update`, sid); err != nil {
				return err
			}
			var id int64
			if err := tx.QueryRow(ctx, `select id from auth.refresh_tokens where token_hash = $1 for update`, h).Scan(&id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1`, id); err != nil {
				return err
			}
			_, h = next()
			if _, err := tx.Exec(ctx, `insert into auth.refresh_tokens (token_hash, session_id, user_id, parent_id) values ($1, $2, $3, $4)`, h, sid, uid, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `update auth.sessions set refreshed_at = now() where id = $1`, sid); err != nil {
				return err
			}
			return loadUserBaseline(ctx, tx, uid)
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}

func loadUserBaseline(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, uid string) error {
	for _, sql := range []string{
		`select * from auth.users where id = $1`,
		`select * from auth.identities where user_id = $1`,
		`select * from auth.mfa_factors where user_id = $1`,
	} {
		rows, err := q.Query(ctx, sql, uid)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		if rows.Err() != nil {
			return rows.Err()
		}
	}
	return nil
}

func claimsOf2(b *testing.B, tok string) string {
	return claimsOf(b, tok)["session_id"].(string)
}

// BenchmarkAuthPasswordSignIn: password sign-in at the default bcrypt cost
// against bcrypt alone comparing the same password, which is the floor.
func BenchmarkAuthPasswordSignIn(b *testing.B) {
	s := benchServer(b)
	signUp(b, s, "bench-signin@example.com", "bench-password")
	hash, err := bcrypt.GenerateFromPassword([]byte("bench-password"), config.Default().Auth.Password.BcryptCost)
	require.NoError(b, err)
	interleave(b, func() {
		signIn(b, s, "bench-signin@example.com", "bench-password")
	}, func() {
		if err := bcrypt.CompareHashAndPassword(hash, []byte("bench-password")); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkAuthGetUser: GET /auth/v1/user (token verification, session
// check, user load) against pgx running the session check and user load.
func BenchmarkAuthGetUser(b *testing.B) {
	s := benchServer(b)
	ss := signUp(b, s, "bench-user@example.com", "bench-password")
	ctx := context.Background()
	pool := s.DB.DB.Admin
	uid := ss.User["id"].(string)
	sid := claimsOf2(b, ss.AccessToken)
	h := bearer(ss.AccessToken)
	interleave(b, func() {
		res, body := s.Do(b, http.MethodGet, "/auth/v1/user", h, nil)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("user: %d %s", res.StatusCode, body)
		}
	}, func() {
		var u string
		if err := pool.QueryRow(ctx, `select user_id::text from auth.sessions where id = $1`, sid).Scan(&u); err != nil {
			b.Fatal(err)
		}
		if err := loadUserBaseline(ctx, pool, uid); err != nil {
			b.Fatal(err)
		}
	})
}
