package auth_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// session is the session object as clients decode it.
type session struct {
	AccessToken  string         `json:"access_token"`
	TokenType    string         `json:"token_type"`
	ExpiresIn    int64          `json:"expires_in"`
	ExpiresAt    int64          `json:"expires_at"`
	RefreshToken string         `json:"refresh_token"`
	User         map[string]any `json:"user"`
}

func hdr(s *apitest.Server, kv ...string) map[string]string {
	h := map[string]string{"apikey": s.AnonKey}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func decode[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(body, &v), "body: %s", body)
	return v
}

// signUp creates a user through the GoTrue route and returns its session.
func signUp(t testing.TB, s *apitest.Server, email, password string) session {
	t.Helper()
	res, body := s.Do(t, http.MethodPost, "/auth/v1/signup", hdr(s), map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	return decode[session](t, body)
}

func signIn(t testing.TB, s *apitest.Server, email, password string) session {
	t.Helper()
	res, body := s.Do(t, http.MethodPost, "/auth/v1/token?grant_type=password", hdr(s), map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	return decode[session](t, body)
}

func refreshTok(t testing.TB, s *apitest.Server, rt string) (*http.Response, []byte) {
	t.Helper()
	return s.Do(t, http.MethodPost, "/auth/v1/token?grant_type=refresh_token", hdr(s), map[string]any{"refresh_token": rt})
}

func TestSmoke(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ss := signUp(t, s, "smoke@example.com", "correct horse")
	require.NotEmpty(t, ss.AccessToken)
	si := signIn(t, s, "smoke@example.com", "correct horse")
	res, body := s.Do(t, http.MethodGet, "/auth/v1/user", bearer(si.AccessToken), nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	res, body = refreshTok(t, s, si.RefreshToken)
	require.Equal(t, 200, res.StatusCode, "%s", body)
}

// newServer is apitest.NewServer with the cheapest bcrypt cost: hashing at
// the default cost on every sign-up would make the suite slow under -race.
// The benchmark measures the default cost.
func newServer(t testing.TB, configure ...func(*config.Config)) *apitest.Server {
	t.Helper()
	return apitest.NewServer(t, append([]func(*config.Config){func(c *config.Config) { c.Auth.Password.BcryptCost = 4 }}, configure...)...)
}
