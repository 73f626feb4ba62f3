package auth_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

// TestExpiryAndAttempts moves stored deadlines into the past (rather than
// waiting) and checks that expired codes, links, authorization codes and
// MFA challenges are refused, and that a code dies after five wrong
// guesses.
func TestExpiryAndAttempts(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t, func(c *config.Config) {
		c.Auth.Mailer.MaxFrequency = 0
		c.Auth.RateLimit.Enabled = false
	})
	db := s.DB.DB.Admin
	ctx := context.Background()
	past := func(sql string, args ...any) {
		t.Helper()
		_, err := db.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}

	// An expired code.
	res, body := s.Do(t, "POST", "/auth/v1/otp", hdr(s), map[string]any{"email": "exp@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	code := testservers.Code(mp.Latest(t, "exp@example.com").Text, 6)
	past(`update auth.one_time_tokens set expires_at = now() - interval '1 second' where relates_to = 'exp@example.com'`)
	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "email", "email": "exp@example.com", "token": code})
	assert.Equal(t, 403, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `otp_expired`)

	// Five wrong guesses kill the right code.
	res, body = s.Do(t, "POST", "/auth/v1/otp", hdr(s), map[string]any{"email": "guess@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	code = testservers.Code(mp.Latest(t, "guess@example.com").Text, 6)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 0; i < 5; i++ {
		res, _ = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "email", "email": "guess@example.com", "token": wrong})
		require.Equal(t, 403, res.StatusCode)
	}
	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "email", "email": "guess@example.com", "token": code})
	assert.Equal(t, 403, res.StatusCode, "%s", body)

	// An expired authorization code.
	verifier := strings.Repeat("e", 43)
	res, body = s.Do(t, "POST", "/auth/v1/otp", hdr(s), map[string]any{"email": "flow@example.com", "code_challenge": verifier, "code_challenge_method": "plain"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	_, loc := noFollow(t, testservers.Link(mp.Latest(t, "flow@example.com").Text, s.URL+"/auth/v1/verify?"))
	authCode := loc.Query().Get("code")
	require.NotEmpty(t, authCode, loc.String())
	past(`update auth.flow_state set expires_at = now() - interval '1 second' where provider = 'email'`)
	res, body = s.Do(t, "POST", "/auth/v1/token?grant_type=pkce", hdr(s), map[string]any{"auth_code": authCode, "code_verifier": verifier})
	assert.Equal(t, 400, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `flow_state_expired`)

	// An expired MFA challenge.
	sess := signUpConfirmed(t, s, mp, "mfa-exp@example.com")
	res, body = s.Do(t, "POST", "/auth/v1/factors", bearer(sess.AccessToken), map[string]any{"factor_type": "totp"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	var f struct {
		ID   string `json:"id"`
		TOTP struct {
			Secret string `json:"secret"`
		} `json:"totp"`
	}
	require.NoError(t, json.Unmarshal(body, &f))
	res, body = s.Do(t, "POST", "/auth/v1/factors/"+f.ID+"/challenge", bearer(sess.AccessToken), nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	cid := decode[map[string]any](t, body)["id"]
	past(`update auth.mfa_challenges set created_at = now() - interval '10 minutes' where id = $1`, cid)
	res, body = s.Do(t, "POST", "/auth/v1/factors/"+f.ID+"/verify", bearer(sess.AccessToken),
		map[string]any{"challenge_id": cid, "code": totpCode(t, f.TOTP.Secret, time.Now())})
	assert.Equal(t, 422, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `mfa_challenge_expired`)
}

// TestPerClientSendLimit: auth.rate_limit.email_sent bounds the mails one
// client address may cause, whatever the addresses it names.
func TestPerClientSendLimit(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t, func(c *config.Config) {
		c.Auth.Mailer.MaxFrequency = 0
		c.Auth.RateLimit.EmailSent = 2
	})
	for i, want := range []int{200, 200, 429} {
		email := []string{"s1@example.com", "s2@example.com", "s3@example.com"}[i]
		res, body := s.Do(t, "POST", "/auth/v1/recover", hdr(s), map[string]any{"email": email})
		assert.Equal(t, want, res.StatusCode, "%s", body)
		if want == 429 {
			assert.Contains(t, string(body), `over_email_send_rate_limit`)
			assert.NotEmpty(t, res.Header.Get("Retry-After"))
		}
	}
	assert.Equal(t, 0, mp.Count(t, "s3@example.com"))
	assert.Empty(t, outboxRows(t, s.DB.DB.Admin, "s3@example.com"), "a refused request queues nothing")
}
