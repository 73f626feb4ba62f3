package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// jwtClaims decodes a token's payload without verifying it (the server
// just issued it).
func jwtClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(b, &c))
	return c
}

func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return c
}

func TestMFATOTP(t *testing.T) {
	t.Parallel()
	s := apitest.NewServer(t, func(c *config.Config) { c.Auth.Password.BcryptCost = 4 })
	sess := signUp(t, s, "mfa@example.com", "password-1")
	auth := bearer(sess.AccessToken)

	res, body := s.Do(t, "POST", "/auth/v1/factors", auth, map[string]any{"factor_type": "totp", "friendly_name": "phone", "issuer": "Acme"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	var enr struct {
		ID           string `json:"id"`
		Type         string `json:"type"`
		FriendlyName string `json:"friendly_name"`
		TOTP         struct {
			QRCode string `json:"qr_code"`
			Secret string `json:"secret"`
			URI    string `json:"uri"`
		} `json:"totp"`
	}
	require.NoError(t, json.Unmarshal(body, &enr))
	assert.Equal(t, "totp", enr.Type)
	assert.Equal(t, "phone", enr.FriendlyName)
	assert.True(t, strings.HasPrefix(enr.TOTP.QRCode, "<svg "), enr.TOTP.QRCode[:20])
	assert.True(t, strings.HasPrefix(enr.TOTP.URI, "otpauth://totp/Acme:mfa@example.com?"), enr.TOTP.URI)
	assert.Contains(t, enr.TOTP.URI, "secret="+enr.TOTP.Secret)

	apitest.Run(t, s, []apitest.Scenario{
		{Name: "enroll without session", Method: "POST", Path: "/auth/v1/factors", Body: map[string]any{"factor_type": "totp"}, ExpectedStatus: 401},
		{Name: "enroll phone", Method: "POST", Path: "/auth/v1/factors", Headers: auth, Body: map[string]any{"factor_type": "phone", "phone": "+15555550100"},
			ExpectedStatus: 422, ExpectedContent: []string{`mfa_phone_enroll_not_enabled`}},
		{Name: "enroll unknown type", Method: "POST", Path: "/auth/v1/factors", Headers: auth, Body: map[string]any{"factor_type": "sms"}, ExpectedStatus: 400},
		{Name: "duplicate name", Method: "POST", Path: "/auth/v1/factors", Headers: auth, Body: map[string]any{"factor_type": "totp", "friendly_name": "phone"},
			ExpectedStatus: 422, ExpectedContent: []string{`mfa_factor_name_conflict`}},
		{Name: "challenge unknown factor", Method: "POST", Path: "/auth/v1/factors/00000000-0000-4000-8000-000000000000/challenge", Headers: auth, ExpectedStatus: 404, ExpectedContent: []string{`mfa_factor_not_found`}},
		{Name: "challenge malformed id", Method: "POST", Path: "/auth/v1/factors/nope/challenge", Headers: auth, ExpectedStatus: 404},
		{Name: "verify bad challenge id", Method: "POST", Path: "/auth/v1/factors/" + enr.ID + "/verify", Headers: auth, Body: map[string]any{"challenge_id": "x", "code": "123456"}, ExpectedStatus: 400},
	})

	// Another user cannot see or challenge this factor.
	other := signUp(t, s, "other@example.com", "password-1")
	res, _ = s.Do(t, "POST", "/auth/v1/factors/"+enr.ID+"/challenge", bearer(other.AccessToken), nil)
	assert.Equal(t, 404, res.StatusCode)

	challenge := func() string {
		res, body := s.Do(t, "POST", "/auth/v1/factors/"+enr.ID+"/challenge", auth, nil)
		require.Equal(t, 200, res.StatusCode, "%s", body)
		var c struct {
			ID        string `json:"id"`
			Type      string `json:"type"`
			ExpiresAt int64  `json:"expires_at"`
		}
		require.NoError(t, json.Unmarshal(body, &c))
		assert.Equal(t, "totp", c.Type)
		assert.Greater(t, c.ExpiresAt, time.Now().Unix())
		return c.ID
	}
	cid := challenge()
	res, body = s.Do(t, "POST", "/auth/v1/factors/"+enr.ID+"/verify", auth, map[string]any{"challenge_id": cid, "code": "12345x"})
	assert.Equal(t, 422, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `mfa_verification_failed`)

	now := time.Now()
	code := totpCode(t, enr.TOTP.Secret, now)
	res, body = s.Do(t, "POST", "/auth/v1/factors/"+enr.ID+"/verify", auth, map[string]any{"challenge_id": cid, "code": code})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	raised := decode[session](t, body)
	claims := jwtClaims(t, raised.AccessToken)
	assert.Equal(t, "aal2", claims["aal"])
	amr := claims["amr"].([]any)
	assert.Equal(t, "totp", amr[0].(map[string]any)["method"])
	assert.Equal(t, jwtClaims(t, sess.AccessToken)["session_id"], claims["session_id"], "same session, raised")
	assert.NotEqual(t, sess.RefreshToken, raised.RefreshToken)
	res, body = s.Do(t, "GET", "/auth/v1/user", bearer(raised.AccessToken), nil)
	require.Equal(t, 200, res.StatusCode)
	assert.Contains(t, string(body), `"status":"verified"`)

	// The challenge is used up, and the code cannot be replayed on a new one.
	res, _ = s.Do(t, "POST", "/auth/v1/factors/"+enr.ID+"/verify", auth, map[string]any{"challenge_id": cid, "code": code})
	assert.Equal(t, 422, res.StatusCode)
	res, body = s.Do(t, "POST", "/auth/v1/factors/"+enr.ID+"/verify", auth, map[string]any{"challenge_id": challenge(), "code": code})
	assert.Equal(t, 422, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `mfa_verification_failed`)

	// Refreshing keeps aal2.
	res, body = refreshTok(t, s, raised.RefreshToken)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Equal(t, "aal2", jwtClaims(t, decode[session](t, body).AccessToken)["aal"])

	// A second factor needs aal2; unenrolling a verified factor needs aal2.
	res, body = s.Do(t, "POST", "/auth/v1/factors", auth, map[string]any{"factor_type": "totp", "friendly_name": "second"})
	assert.Equal(t, 422, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `insufficient_aal`)
	aal1 := signIn(t, s, "mfa@example.com", "password-1")
	res, body = s.Do(t, "DELETE", "/auth/v1/factors/"+enr.ID, bearer(aal1.AccessToken), nil)
	assert.Equal(t, 422, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `insufficient_aal`)
	res, body = s.Do(t, "DELETE", "/api/v1/auth/factors/"+enr.ID, bearer(raised.AccessToken), nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.JSONEq(t, `{"id":"`+enr.ID+`"}`, string(body))
	res, _ = s.Do(t, "DELETE", "/auth/v1/factors/"+enr.ID, bearer(raised.AccessToken), nil)
	assert.Equal(t, 404, res.StatusCode)
}
