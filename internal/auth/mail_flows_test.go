package auth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

// mailServer runs Fluxbase on a known port (so that the links it mails
// point back at it) with mail going to a fresh mailpit.
func mailServer(t *testing.T, configure ...func(*config.Config)) (*apitest.Server, *testservers.Mailpit) {
	t.Helper()
	mp := testservers.StartMailpit(t)
	port := testservers.FreePort(t)
	s := apitest.NewServer(t, append([]func(*config.Config){func(c *config.Config) {
		c.HTTP.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		c.PublicURL = fmt.Sprintf("http://127.0.0.1:%d", port)
		c.Auth.SiteURL = "http://app.test"
		c.Auth.RedirectAllowList = []string{"http://localhost:3000/**"}
		c.Auth.SMTP.Host = mp.SMTPHost
		c.Auth.SMTP.Port = mp.SMTPPort
		c.Auth.SMTP.From = "Fluxbase <no-reply@example.com>"
		c.Auth.SMTP.TLS = "none"
		c.Auth.Mailer.Autoconfirm = false
		// The cheapest bcrypt: these tests are about mail, and -race makes
		// the default cost take seconds.
		c.Auth.Password.BcryptCost = 4
	}}, configure...)...)
	return s, mp
}

// noFollow GETs rawURL without following redirects and returns the
// Location it points to.
func noFollow(t testing.TB, rawURL string) (*http.Response, *url.URL) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(rawURL)
	require.NoError(t, err)
	res.Body.Close()
	loc, err := res.Location()
	if err != nil {
		return res, nil
	}
	return res, loc
}

func fragment(u *url.URL) url.Values {
	v, _ := url.ParseQuery(u.Fragment)
	return v
}

func TestOTPSignInByCodeAndLink(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t)

	// An unknown address signs up through /otp; the mail has a code and a link.
	res, body := s.Do(t, "POST", "/auth/v1/otp", hdr(s), map[string]any{"email": "Otp.User@Example.com", "data": map[string]any{"plan": "pro"}})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.JSONEq(t, `{}`, string(body))
	msg := mp.Latest(t, "otp.user@example.com")
	assert.Equal(t, "Your sign-in link", msg.Subject)
	assert.Equal(t, "no-reply@example.com", msg.From.Address)
	code := testservers.Code(msg.Text, 6)
	require.NotEmpty(t, code, msg.Text)

	// A wrong code fails without using up the right one.
	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "email", "email": "otp.user@example.com", "token": "000000"})
	if code != "000000" {
		assert.Equal(t, 403, res.StatusCode, "%s", body)
		assert.Contains(t, string(body), `"error_code":"otp_expired"`)
	}
	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "email", "email": "otp.user@example.com", "token": code})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	sess := decode[session](t, body)
	assert.NotEmpty(t, sess.AccessToken)
	assert.NotNil(t, sess.User["email_confirmed_at"], "verifying the code confirms the address")
	assert.Equal(t, "pro", sess.User["user_metadata"].(map[string]any)["plan"])

	// Single use: the same code, and the link of the same mail, are dead.
	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "email", "email": "otp.user@example.com", "token": code})
	assert.Equal(t, 403, res.StatusCode, "%s", body)
	link := testservers.Link(msg.Text, s.URL+"/auth/v1/verify?")
	require.NotEmpty(t, link, msg.Text)
	res, loc := noFollow(t, link)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "app.test", loc.Host)
	assert.Equal(t, "otp_expired", fragment(loc).Get("error_code"))

	// A new request, followed by link this time, with an allowed redirect.
	res, body = s.Do(t, "POST", "/api/v1/auth/magiclink?redirect_to="+url.QueryEscape("http://localhost:3000/welcome"), hdr(s), map[string]any{"email": "link.user@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	msg = mp.Latest(t, "link.user@example.com")
	link = testservers.Link(msg.Text, s.URL+"/auth/v1/verify?")
	res, loc = noFollow(t, link)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "localhost:3000", loc.Host)
	assert.Equal(t, "/welcome", loc.Path)
	f := fragment(loc)
	require.NotEmpty(t, f.Get("access_token"), loc.String())
	assert.Equal(t, "bearer", f.Get("token_type"))
	assert.Equal(t, "magiclink", f.Get("type"))
	res, body = s.Do(t, "GET", "/auth/v1/user", bearer(f.Get("access_token")), nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"email":"link.user@example.com"`)

	// A redirect outside the allow-list falls back to the site URL.
	res, body = s.Do(t, "POST", "/auth/v1/otp?redirect_to="+url.QueryEscape("https://evil.example/steal"), hdr(s), map[string]any{"email": "third@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	msg = mp.Latest(t, "third@example.com")
	assert.NotContains(t, msg.Text, "evil.example")
	_, loc = noFollow(t, testservers.Link(msg.Text, s.URL+"/auth/v1/verify?"))
	assert.Equal(t, "app.test", loc.Host)
}

func TestNativeOTPCodeOnly(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t)
	res, body := s.Do(t, "POST", "/api/v1/auth/otp", hdr(s), map[string]any{"email": "code@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	msg := mp.Latest(t, "code@example.com")
	code := testservers.Code(msg.Text, 6)
	assert.Contains(t, msg.Subject, code, "the otp template puts the code in the subject")
	assert.NotContains(t, msg.Text, "/verify?", "the otp template has no link")
	res, body = s.Do(t, "POST", "/api/v1/auth/otp/verify", hdr(s), map[string]any{"email": "code@example.com", "token": code})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"access_token"`)
	res, body = s.Do(t, "POST", "/api/v1/auth/otp/verify", hdr(s), map[string]any{"email": "code@example.com", "token": code})
	assert.Equal(t, 403, res.StatusCode)
	assert.Contains(t, string(body), `"code":"otp_expired"`)
}

func TestOTPErrorsAndLimits(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t)
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "bad email", Method: "POST", Path: "/auth/v1/otp", Body: map[string]any{"email": "nope"}, ExpectedStatus: 400, ExpectedContent: []string{`email_address_invalid`}},
		{Name: "no email", Method: "POST", Path: "/auth/v1/otp", Body: map[string]any{}, ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "phone needs sms", Method: "POST", Path: "/auth/v1/otp", Body: map[string]any{"phone": "+15555550100"}, ExpectedStatus: 400, ExpectedContent: []string{`phone_provider_disabled`}},
		{Name: "malformed", Method: "POST", Path: "/auth/v1/otp", Body: `{"email":`, ExpectedStatus: 400, ExpectedContent: []string{`bad_json`}},
		{Name: "half pkce", Method: "POST", Path: "/auth/v1/otp", Body: map[string]any{"email": "p@example.com", "code_challenge": strings.Repeat("a", 43)}, ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "verify without type", Method: "POST", Path: "/auth/v1/verify", Body: map[string]any{"email": "a@example.com", "token": "123456"}, ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "verify bad type", Method: "POST", Path: "/auth/v1/verify", Body: map[string]any{"type": "bogus", "token_hash": "x"}, ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "verify sms", Method: "POST", Path: "/auth/v1/verify", Body: map[string]any{"type": "sms", "phone": "15555550100", "token": "123456"}, ExpectedStatus: 400, ExpectedContent: []string{`phone_provider_disabled`}},
		{Name: "verify unknown hash", Method: "POST", Path: "/auth/v1/verify", Body: map[string]any{"type": "magiclink", "token_hash": "nope"}, ExpectedStatus: 403, ExpectedContent: []string{`otp_expired`}},
		{Name: "verify nothing", Method: "POST", Path: "/auth/v1/verify", Body: map[string]any{"type": "email"}, ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "resend bad type", Method: "POST", Path: "/auth/v1/resend", Body: map[string]any{"type": "x", "email": "a@example.com"}, ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
	})

	// No enumeration: with create_user false an unknown address gets the
	// same answer as a known one, and no mail.
	res, body := s.Do(t, "POST", "/auth/v1/admin/users", bearer(s.ServiceRoleKey), map[string]any{"email": "known@example.com", "password": "password-1", "email_confirm": true})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	r1, b1 := s.Do(t, "POST", "/auth/v1/otp", hdr(s), map[string]any{"email": "known@example.com", "create_user": false})
	r2, b2 := s.Do(t, "POST", "/auth/v1/otp", hdr(s), map[string]any{"email": "unknown@example.com", "create_user": false})
	assert.Equal(t, r1.StatusCode, r2.StatusCode)
	assert.Equal(t, string(b1), string(b2))
	mp.WaitForCount(t, "known@example.com", 1)
	assert.Equal(t, 0, mp.Count(t, "unknown@example.com"))
	assertDropped(t, s.DB.DB.Admin, "unknown@example.com", "no account")

	// The per-address interval: a second mail within auth.mailer.max_frequency is refused with Retry-After.
	res, body = s.Do(t, "POST", "/auth/v1/otp", hdr(s), map[string]any{"email": "known@example.com"})
	assert.Equal(t, 429, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"error_code":"over_email_send_rate_limit"`)
	assert.NotEmpty(t, res.Header.Get("Retry-After"))

	// An unknown link token redirects with GoTrue's error parameters.
	res, loc := noFollow(t, s.URL+"/auth/v1/verify?type=magiclink&token=nope&redirect_to="+url.QueryEscape("http://localhost:3000/cb"))
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "localhost:3000", loc.Host)
	assert.Equal(t, "access_denied", fragment(loc).Get("error"))
	assert.Equal(t, "otp_expired", fragment(loc).Get("error_code"))
}

// signUpConfirmed signs up with confirmation required and follows the
// confirmation mail's code.
func signUpConfirmed(t *testing.T, s *apitest.Server, mp *testservers.Mailpit, email string) session {
	t.Helper()
	res, body := s.Do(t, "POST", "/auth/v1/signup", hdr(s), map[string]any{"email": email, "password": "password-1"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.NotContains(t, string(body), `"access_token"`, "no session before confirmation")
	assert.Contains(t, string(body), `"confirmation_sent_at"`)
	msg := mp.Latest(t, email)
	assert.Equal(t, "Confirm your email address", msg.Subject)
	res, body = s.Do(t, "POST", "/auth/v1/token?grant_type=password", hdr(s), map[string]any{"email": email, "password": "password-1"})
	require.Equal(t, 400, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `email_not_confirmed`)
	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "signup", "email": email, "token": testservers.Code(msg.Text, 6)})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	return decode[session](t, body)
}

func TestSignupConfirmationAndRecovery(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t, func(c *config.Config) { c.Auth.Mailer.MaxFrequency = 0 })
	signUpConfirmed(t, s, mp, "rec@example.com")
	signIn(t, s, "rec@example.com", "password-1")

	// Recover answers identically for known and unknown addresses.
	r1, b1 := s.Do(t, "POST", "/auth/v1/recover", hdr(s), map[string]any{"email": "rec@example.com"})
	r2, b2 := s.Do(t, "POST", "/auth/v1/recover", hdr(s), map[string]any{"email": "ghost@example.com"})
	require.Equal(t, 200, r1.StatusCode, "%s", b1)
	assert.Equal(t, r1.StatusCode, r2.StatusCode)
	assert.Equal(t, string(b1), string(b2))
	assert.Equal(t, 0, mp.Count(t, "ghost@example.com"))
	assertDropped(t, s.DB.DB.Admin, "ghost@example.com", "no account")
	msgs := mp.WaitForCount(t, "rec@example.com", 2)
	assert.Equal(t, "Reset your password", msgs[0].Subject)

	// The recovery link signs in; the session then sets a new password.
	_, loc := noFollow(t, testservers.Link(msgs[0].Text, s.URL+"/auth/v1/verify?"))
	f := fragment(loc)
	require.Equal(t, "recovery", f.Get("type"), loc.String())
	res, body := s.Do(t, "PUT", "/auth/v1/user", bearer(f.Get("access_token")), map[string]any{"password": "new-password-2"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	signIn(t, s, "rec@example.com", "new-password-2")

	// Resend of a confirmation for an unconfirmed sign-up mails again;
	// for a confirmed or unknown address it answers the same and mails nothing.
	res, body = s.Do(t, "POST", "/auth/v1/signup", hdr(s), map[string]any{"email": "late@example.com", "password": "password-1"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	first := mp.WaitForCount(t, "late@example.com", 1)
	res, body = s.Do(t, "POST", "/auth/v1/resend", hdr(s), map[string]any{"type": "signup", "email": "late@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	second := mp.WaitForOther(t, "late@example.com", first)
	res2, body2 := s.Do(t, "POST", "/auth/v1/resend", hdr(s), map[string]any{"type": "signup", "email": "ghost@example.com"})
	assert.Equal(t, res.StatusCode, res2.StatusCode)
	assert.Equal(t, string(body), string(body2))
	// The first confirmation mail was replaced by the second.
	old := testservers.Code(first[0].Text, 6)
	fresh := testservers.Code(second.Text, 6)
	if old != fresh {
		res, _ = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "signup", "email": "late@example.com", "token": old})
		assert.Equal(t, 403, res.StatusCode)
	}
	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "signup", "email": "late@example.com", "token": fresh})
	assert.Equal(t, 200, res.StatusCode, "%s", body)
}

func TestEmailChangeSecure(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t, func(c *config.Config) { c.Auth.Mailer.MaxFrequency = 0 })
	sess := signUpConfirmed(t, s, mp, "old@example.com")
	res, body := s.Do(t, "PUT", "/auth/v1/user", bearer(sess.AccessToken), map[string]any{"email": "new@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"new_email":"new@example.com"`)
	assert.Contains(t, string(body), `"email":"old@example.com"`)
	sentOld := mp.WaitForCount(t, "old@example.com", 2)
	sentNew := mp.WaitForCount(t, "new@example.com", 1)
	// Resend mails both confirmations again; the first ones die.
	res, body = s.Do(t, "POST", "/auth/v1/resend", hdr(s), map[string]any{"type": "email_change", "email": "old@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	toOld := mp.WaitForOther(t, "old@example.com", sentOld)
	toNew := mp.WaitForOther(t, "new@example.com", sentNew)
	assert.Equal(t, "Confirm your new email address", toNew.Subject)
	assert.Contains(t, toNew.Text, "from old@example.com to new@example.com")

	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "email_change", "email": "new@example.com", "token": testservers.Code(toNew.Text, 6)})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), "Please proceed to confirm link sent to the other email")
	_, loc := noFollow(t, testservers.Link(toOld.Text, s.URL+"/auth/v1/verify?"))
	require.NotEmpty(t, fragment(loc).Get("access_token"), loc.String())
	res, body = s.Do(t, "GET", "/auth/v1/user", bearer(fragment(loc).Get("access_token")), nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"email":"new@example.com"`)
	assert.NotContains(t, string(body), `"new_email"`)
	signIn(t, s, "new@example.com", "password-1")
}

func TestMagicLinkPKCE(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t)
	verifier := strings.Repeat("v", 20) + "-._~0123456789ABCDEFGHIJKLMNOP"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	res, body := s.Do(t, "POST", "/auth/v1/otp?redirect_to="+url.QueryEscape("http://localhost:3000/cb"), hdr(s),
		map[string]any{"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "s256"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	msg := mp.Latest(t, "pkce@example.com")
	_, loc := noFollow(t, testservers.Link(msg.Text, s.URL+"/auth/v1/verify?"))
	require.NotNil(t, loc)
	code := loc.Query().Get("code")
	require.NotEmpty(t, code, loc.String())
	assert.Empty(t, loc.Fragment, "no tokens in the URL in a PKCE flow")

	apitest.Run(t, s, []apitest.Scenario{
		{Name: "missing verifier", Method: "POST", Path: "/auth/v1/token?grant_type=pkce", Body: map[string]any{"auth_code": code},
			ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "unknown code", Method: "POST", Path: "/auth/v1/token?grant_type=pkce", Body: map[string]any{"auth_code": "nope", "code_verifier": verifier},
			ExpectedStatus: 404, ExpectedContent: []string{`flow_state_not_found`}},
		{Name: "exchange", Method: "POST", Path: "/auth/v1/token?grant_type=pkce", Body: map[string]any{"auth_code": code, "code_verifier": verifier},
			ExpectedStatus: 200, ExpectedContent: []string{`"access_token"`, `"email":"pkce@example.com"`}},
		{Name: "second exchange", Method: "POST", Path: "/auth/v1/token?grant_type=pkce", Body: map[string]any{"auth_code": code, "code_verifier": verifier},
			ExpectedStatus: 404, ExpectedContent: []string{`flow_state_not_found`}},
	})

	// A wrong verifier spends the code.
	res, body = s.Do(t, "POST", "/api/v1/auth/magiclink", hdr(s),
		map[string]any{"email": "pkce2@example.com", "code_challenge": challenge, "code_challenge_method": "S256"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	_, loc = noFollow(t, testservers.Link(mp.Latest(t, "pkce2@example.com").Text, s.URL+"/auth/v1/verify?"))
	code = loc.Query().Get("code")
	require.NotEmpty(t, code)
	res, body = s.Do(t, "POST", "/auth/v1/token?grant_type=pkce", hdr(s), map[string]any{"auth_code": code, "code_verifier": strings.Repeat("w", 50)})
	assert.Equal(t, 403, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `bad_code_verifier`)
	res, _ = s.Do(t, "POST", "/auth/v1/token?grant_type=pkce", hdr(s), map[string]any{"auth_code": code, "code_verifier": verifier})
	assert.Equal(t, 404, res.StatusCode)
}

func TestInviteGenerateLinkAndTemplates(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t, func(c *config.Config) { c.Auth.Mailer.MaxFrequency = 0 })
	admin := bearer(s.ServiceRoleKey)

	// Templates: listed with defaults, replaced, validated, reset.
	res, body := s.Do(t, "GET", "/api/v1/auth/admin/templates", admin, nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"name":"invite"`)
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "templates need admin", Method: "GET", Path: "/api/v1/auth/admin/templates", Headers: bearer(s.AnonKey), ExpectedStatus: 403},
		{Name: "unknown template", Method: "GET", Path: "/api/v1/auth/admin/templates/nope", Headers: admin, ExpectedStatus: 404, ExpectedContent: []string{`template_not_found`}},
		{Name: "broken template", Method: "PUT", Path: "/api/v1/auth/admin/templates/invite", Headers: admin,
			Body: map[string]any{"subject": "Hi", "body_html": "{{ if }}"}, ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "empty subject", Method: "PUT", Path: "/api/v1/auth/admin/templates/invite", Headers: admin,
			Body: map[string]any{"subject": "", "body_html": "x"}, ExpectedStatus: 400},
		{Name: "default template", Method: "GET", Path: "/api/v1/auth/admin/templates/otp", Headers: admin,
			ExpectedStatus: 200, ExpectedContent: []string{`"name":"otp"`, `"custom":false`, `{{ .Token }}`}},
		{Name: "custom invite", Method: "PUT", Path: "/api/v1/auth/admin/templates/invite", Headers: admin,
			Body:           map[string]any{"subject": "Join {{ .SiteURL }}", "body_html": `<a href="{{ .ConfirmationURL }}">join</a>`, "body_text": "Join: {{ .ConfirmationURL }} ({{ .Data.team }})"},
			ExpectedStatus: 200, ExpectedContent: []string{`"custom":true`}},
	})

	// Invite uses the custom template, and its link signs the invitee in.
	res, body = s.Do(t, "POST", "/auth/v1/invite", admin, map[string]any{"email": "invitee@example.com", "data": map[string]any{"team": "blue"}})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"invited_at"`)
	msg := mp.Latest(t, "invitee@example.com")
	assert.Equal(t, "Join http://app.test", msg.Subject)
	assert.Contains(t, msg.Text, "(blue)")
	_, loc := noFollow(t, testservers.Link(msg.Text, s.URL+"/auth/v1/verify?"))
	assert.Equal(t, "invite", fragment(loc).Get("type"), loc.String())
	res, _ = s.Do(t, "POST", "/auth/v1/invite", admin, map[string]any{"email": "invitee@example.com"})
	assert.Equal(t, 422, res.StatusCode, "a confirmed user cannot be invited again")
	res, _ = s.Do(t, "POST", "/auth/v1/invite", bearer(s.AnonKey), map[string]any{"email": "x@example.com"})
	assert.Equal(t, 403, res.StatusCode)

	res, body = s.Do(t, "DELETE", "/api/v1/auth/admin/templates/invite", admin, nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"custom":false`)

	// generate_link answers the link and code without mailing them.
	res, body = s.Do(t, "POST", "/auth/v1/admin/generate_link?redirect_to="+url.QueryEscape("http://localhost:3000/x"), admin,
		map[string]any{"type": "magiclink", "email": "gen@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	g := decode[map[string]any](t, body)
	assert.Equal(t, "magiclink", g["verification_type"])
	assert.Equal(t, "http://localhost:3000/x", g["redirect_to"])
	assert.Equal(t, "gen@example.com", g["email"])
	assert.Len(t, g["email_otp"], 6)
	assert.Equal(t, 0, mp.Count(t, "gen@example.com"))
	assert.Empty(t, outboxRows(t, s.DB.DB.Admin, "gen@example.com"), "generate_link queues nothing")
	res, body = s.Do(t, "POST", "/auth/v1/verify", hdr(s), map[string]any{"type": "magiclink", "token_hash": g["hashed_token"]})
	require.Equal(t, 200, res.StatusCode, "%s", body)

	apitest.Run(t, s, []apitest.Scenario{
		{Name: "generate recovery unknown", Method: "POST", Path: "/auth/v1/admin/generate_link", Headers: admin,
			Body: map[string]any{"type": "recovery", "email": "none@example.com"}, ExpectedStatus: 404, ExpectedContent: []string{`user_not_found`}},
		{Name: "generate bad type", Method: "POST", Path: "/auth/v1/admin/generate_link", Headers: admin,
			Body: map[string]any{"type": "bogus", "email": "gen@example.com"}, ExpectedStatus: 400},
		{Name: "generate signup weak", Method: "POST", Path: "/auth/v1/admin/generate_link", Headers: admin,
			Body: map[string]any{"type": "signup", "email": "gs@example.com", "password": "x"}, ExpectedStatus: 422, ExpectedContent: []string{`weak_password`}},
		{Name: "generate signup", Method: "POST", Path: "/auth/v1/admin/generate_link", Headers: admin,
			Body: map[string]any{"type": "signup", "email": "gs@example.com", "password": "password-1"}, ExpectedStatus: 200, ExpectedContent: []string{`"action_link":"http`, `"verification_type":"signup"`}},
		{Name: "generate email change", Method: "POST", Path: "/auth/v1/admin/generate_link", Headers: admin,
			Body: map[string]any{"type": "email_change_new", "email": "gen@example.com", "new_email": "gen2@example.com"}, ExpectedStatus: 200, ExpectedContent: []string{`"new_email":"gen2@example.com"`}},
		{Name: "generate without admin", Method: "POST", Path: "/auth/v1/admin/generate_link", Headers: bearer(s.AnonKey),
			Body: map[string]any{"type": "magiclink", "email": "gen@example.com"}, ExpectedStatus: 403},
	})
}
