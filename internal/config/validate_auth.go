package config

import (
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// passwordClasses are the character classes auth.password.required_characters may name.
var passwordClasses = map[string]bool{"lower": true, "upper": true, "digits": true, "symbols": true}

// sqlFunctionRE is a schema-qualified function name of plain identifiers,
// which is all a hook may be: it is quoted as two identifiers when called.
var sqlFunctionRE = regexp.MustCompile(`^[a-z_][a-z0-9_$]{0,62}\.[a-z_][a-z0-9_$]{0,62}$`)

// authProblems checks the auth server's settings.
func (c *Config) authProblems(ch *checker) {
	a := c.Auth
	if a.SiteURL != "" && !validRedirectPattern(a.SiteURL) {
		ch.add("auth.site_url", "%q is not an absolute URL; use your application's address, such as https://app.example.com (or a custom scheme such as myapp://callback for mobile apps)", a.SiteURL)
	}
	for _, u := range a.RedirectAllowList {
		if !validRedirectPattern(u) {
			ch.add("auth.redirect_allow_list", "%q is not a URL pattern; use absolute URLs such as https://app.example.com/** (* matches within a path segment, ** across segments)", u)
		}
	}
	if a.AccessTokenTTL < 30*time.Second || a.AccessTokenTTL > 7*24*time.Hour {
		ch.add("auth.access_token_ttl", "must be between 30s and 168h, such as 1h; short-lived access tokens are what make revocation take effect")
	}
	ch.nonNegative("auth.session_timebox", a.SessionTimebox, "720h")
	if a.RefreshTokenReuseInterval < 0 || a.RefreshTokenReuseInterval > 10*time.Minute {
		ch.add("auth.refresh_token_reuse_interval", "must be between 0s and 10m, such as 10s; it only needs to cover concurrent refreshes and lost responses")
	}
	if k := a.EncryptionKey; k != "" && len(k) < minSecretLen {
		ch.add("auth.encryption_key", "is %d bytes long; it must be at least %d bytes, such as the output of: openssl rand -base64 48", len(k), minSecretLen)
	}

	p := a.Password
	if p.MinLength < 6 || p.MinLength > 72 {
		ch.add("auth.password.min_length", "must be between 6 and 72 (bcrypt uses at most 72 bytes), such as 8")
	}
	for _, cl := range p.RequiredCharacters {
		if !passwordClasses[strings.ToLower(cl)] {
			ch.add("auth.password.required_characters", "%q is not a character class; use lower, upper, digits or symbols", cl)
		}
	}
	if p.BcryptCost < 4 || p.BcryptCost > 16 {
		ch.add("auth.password.bcrypt_cost", "must be between 4 and 16, such as 10 (each step doubles the time a sign-in takes)")
	}
	if h := a.Hooks.CustomClaims; h != "" && !sqlFunctionRE.MatchString(h) {
		ch.add("auth.hooks.custom_claims", "%q is not a schema-qualified function name; use schema.function such as public.custom_access_token_hook", h)
	}

	r := a.RateLimit
	ch.positive("auth.rate_limit.window", r.Window, "5m")
	for _, l := range []struct {
		key string
		n   int
	}{
		{"auth.rate_limit.sign_in", r.SignIn}, {"auth.rate_limit.sign_up", r.SignUp},
		{"auth.rate_limit.token_refresh", r.TokenRefresh}, {"auth.rate_limit.otp", r.OTP},
		{"auth.rate_limit.verify", r.Verify}, {"auth.rate_limit.anonymous", r.Anonymous},
		{"auth.rate_limit.email_sent", r.EmailSent},
	} {
		if l.n <= 0 {
			ch.add(l.key, "must be greater than 0, the requests allowed per client address in auth.rate_limit.window; set auth.rate_limit.enabled to false to switch limits off")
		}
	}
	if r.FailedSignIns < 1 {
		ch.add("auth.rate_limit.failed_sign_ins", "must be at least 1, such as 5")
	}
	ch.positive("auth.rate_limit.failed_sign_in_backoff", r.FailedSignInBackoff, "1s")
	if r.FailedSignInMaxBackoff < r.FailedSignInBackoff {
		ch.add("auth.rate_limit.failed_sign_in_max_backoff", "must be at least auth.rate_limit.failed_sign_in_backoff, such as 15m")
	}
	ch.nonNegative("auth.audit.retention", a.Audit.Retention, "2160h")

	s := a.SMTP
	if s.Host != "" && !validHostname(s.Host) {
		ch.add("auth.smtp.host", "%q is not a host name or address; use the mail server's name such as smtp.example.com", s.Host)
	}
	if s.Port < 1 || s.Port > 65535 {
		ch.add("auth.smtp.port", "%d is not a TCP port; use 587 (STARTTLS), 465 (TLS) or 25", s.Port)
	}
	if s.From != "" {
		if _, err := mail.ParseAddress(s.From); err != nil {
			ch.add("auth.smtp.from", "%q is not an email address; use an address such as no-reply@example.com", s.From)
		}
	} else if s.Host != "" {
		ch.add("auth.smtp.from", "is required when auth.smtp.host is set; use the sender address, such as no-reply@example.com")
	}
	switch s.TLS {
	case "auto", "starttls", "tls", "none":
	default:
		ch.add("auth.smtp.tls", "%q is not a TLS mode; use auto, starttls, tls or none", s.TLS)
	}
	m := a.Mailer
	if !m.Autoconfirm && s.Host == "" {
		ch.add("auth.mailer.autoconfirm", "is false, which requires confirming addresses by mail, but auth.smtp.host is not set; configure auth.smtp or set auth.mailer.autoconfirm to true")
	}
	ch.positive("auth.mailer.otp_expiry", m.OTPExpiry, "1h")
	ch.positive("auth.mailer.link_expiry", m.LinkExpiry, "1h")
	if m.OTPLength < 6 || m.OTPLength > 10 {
		ch.add("auth.mailer.otp_length", "must be between 6 and 10, such as 6")
	}
	ch.nonNegative("auth.mailer.max_frequency", m.MaxFrequency, "1m")
	if m.MaxAttempts < 1 || m.MaxAttempts > 100 {
		ch.add("auth.mailer.max_attempts", "must be between 1 and 100, such as 10")
	}
	ch.positive("auth.mailer.retry_backoff", m.RetryBackoff, "30s")
	ch.positive("auth.mailer.outbox_retention", m.OutboxRetention, "168h")
	if strings.TrimSpace(a.MFA.Issuer) == "" {
		ch.add("auth.mfa.issuer", "must not be empty; authenticator apps show it next to the account, such as your application's name")
	}
	if a.MFA.MaxFactors < 1 {
		ch.add("auth.mfa.max_factors", "must be at least 1, such as 10")
	}

	e := a.External
	for _, p := range []struct {
		name string
		cfg  ExternalProvider
	}{
		{"google", e.Google}, {"github", e.GitHub}, {"microsoft", e.Microsoft}, {"apple", e.Apple},
		{"facebook", e.Facebook}, {"twitter", e.Twitter}, {"linkedin", e.LinkedIn}, {"gitlab", e.GitLab},
		{"bitbucket", e.Bitbucket}, {"oidc", e.OIDC},
	} {
		key := "auth.external." + p.name
		if p.cfg.Enabled && p.cfg.ClientID == "" {
			ch.add(key+".client_id", "is required when %s.enabled is true; use the client id the provider issued", key)
		}
		if p.name == "oidc" && p.cfg.Enabled && p.cfg.Issuer == "" {
			ch.add(key+".issuer", "is required when %s.enabled is true; use the provider's issuer URL, such as https://accounts.example.com", key)
		}
		for _, f := range [][2]string{
			{"issuer", p.cfg.Issuer}, {"authorization_url", p.cfg.AuthorizationURL}, {"token_url", p.cfg.TokenURL},
			{"userinfo_url", p.cfg.UserinfoURL}, {"redirect_uri", p.cfg.RedirectURI},
		} {
			if f[1] == "" {
				continue
			}
			if u, err := url.Parse(f[1]); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				ch.add(key+"."+f[0], "%q is not an absolute http(s) URL", f[1])
			}
		}
	}
}

// validRedirectPattern accepts an absolute URL in which * and ** may stand
// for parts of the host or path. http(s) URLs need a host; custom schemes
// (mobile deep links such as myapp://callback) need something after the
// scheme.
func validRedirectPattern(p string) bool {
	u, err := url.Parse(strings.ReplaceAll(p, "*", "x"))
	if err != nil || u.Scheme == "" {
		return false
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		return u.Host != ""
	}
	return u.Host != "" || u.Opaque != "" || u.Path != ""
}
