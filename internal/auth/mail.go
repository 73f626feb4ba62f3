package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	gomail "github.com/wneessen/go-mail"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
)

// mailMessage is one email ready to send.
type mailMessage struct {
	To      string
	Subject string
	HTML    string
	Text    string
}

// errMailNotConfigured is returned when a flow needs to send mail and no
// SMTP host is configured.
var errMailNotConfigured = errors.New("email sending is not configured (auth.smtp.host is empty)")

// smtpTimeout bounds one delivery attempt (connect, TLS, auth, DATA): a
// hung mail server must not hold an outbox worker, and the lease a worker
// takes on a message is derived from it.
const smtpTimeout = 15 * time.Second

type smtpSender struct {
	cfg     config.SMTPConfig
	from    *mail.Address
	timeout time.Duration
}

func newSMTPSender(cfg config.SMTPConfig) (*smtpSender, error) {
	if cfg.Host == "" {
		return nil, errMailNotConfigured
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("auth.smtp.from %q is not an email address: %w", cfg.From, err)
	}
	if cfg.SenderName != "" && from.Name == "" {
		from.Name = cfg.SenderName
	}
	switch strings.ToLower(cfg.TLS) {
	case "", "auto", "starttls", "tls", "none":
	default:
		return nil, fmt.Errorf("auth.smtp.tls %q: use auto, starttls, tls or none", cfg.TLS)
	}
	return &smtpSender{cfg: cfg, from: from, timeout: smtpTimeout}, nil
}

func (s *smtpSender) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithTimeout(s.timeout)}
	if s.cfg.Port > 0 {
		opts = append(opts, gomail.WithPort(s.cfg.Port))
	}
	switch strings.ToLower(s.cfg.TLS) {
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.cfg.User != "" {
		// AutoDiscover picks the strongest mechanism the server offers and
		// never sends a password over an unencrypted connection; only an
		// operator who chose tls: none (a relay on a trusted network)
		// gets PLAIN without encryption.
		mech := gomail.SMTPAuthAutoDiscover
		if strings.EqualFold(s.cfg.TLS, "none") {
			mech = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts,
			gomail.WithSMTPAuth(mech),
			gomail.WithUsername(s.cfg.User),
			gomail.WithPassword(s.cfg.Password))
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// Send delivers m in its own SMTP connection: mail is rare enough (a few
// per sign-up) that a kept-alive connection would mostly be an idle one the
// server drops.
func (s *smtpSender) Send(ctx context.Context, m mailMessage) error {
	msg := gomail.NewMsg()
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageID()
	msg.SetDate()
	if m.Text != "" {
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	} else {
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	c, err := s.client()
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send mail to %s via %s: %w", m.To, s.cfg.Host, err)
	}
	return nil
}

// mailTemplateFor returns the template of kind: the operator's version in
// auth.email_templates, else the built-in default.
func (s *Service) mailTemplateFor(ctx context.Context, kind templateKind) (mailTemplate, error) {
	var t mailTemplate
	err := s.db.Admin.QueryRow(ctx, `select subject, body_html, body_text from auth.email_templates where name = $1`, string(kind)).
		Scan(&t.Subject, &t.HTML, &t.Text)
	if errors.Is(err, pgx.ErrNoRows) {
		return defaultTemplates[kind], nil
	}
	return t, err
}

// mailGate applies the send limits before anything about the address is
// looked up, so that being limited says nothing about whether it has an
// account: the request limit of the endpoint family and the per-address
// interval (auth.mailer.max_frequency) and per-client-address count
// (auth.rate_limit.email_sent) of sends.
func (s *Service) mailGate(r *http.Request, family, address string) error {
	if err := s.limitIP(r, family); err != nil {
		return err
	}
	if err := s.limitIP(r, "email_sent"); err != nil {
		return rateLimitedAs(err, CodeOverEmailSendRateLimit, "Email rate limit exceeded")
	}
	if f := s.cfg.Mailer.MaxFrequency; f > 0 && address != "" {
		ok, wait, err := s.hit(r.Context(), "mail:"+address, 1, f)
		if err != nil {
			return err
		}
		if !ok {
			secs := int64((wait + time.Second - 1) / time.Second)
			return rateLimited(CodeOverEmailSendRateLimit,
				fmt.Sprintf("For security purposes, you can only request this after %d seconds.", secs), wait)
		}
	}
	return nil
}

// rateLimitedAs re-labels a 429 with another code and message, keeping its
// Retry-After; other errors pass unchanged.
func rateLimitedAs(err error, code, msg string) error {
	e := httpx.AsError(err)
	if e.Status != http.StatusTooManyRequests {
		return err
	}
	return Err(http.StatusTooManyRequests, code, msg).WithDetails(e.Details)
}

// mailError is the answer when a flow cannot mail what it should.
func mailError(kind templateKind, hint string) error {
	return Err(http.StatusInternalServerError, CodeUnexpectedFailure, "Error sending "+strings.ReplaceAll(string(kind), "_", " ")+" email").
		WithHint(hint)
}

// checkMailer refuses a flow that would mail something when no mail can be
// sent. It runs before anything about the address is looked up, so that
// the answer does not depend on whether the address has an account.
func (s *Service) checkMailer(kind templateKind) error {
	if _, err := newSMTPSender(s.cfg.SMTP); err != nil {
		s.log.Error("cannot send auth email", "kind", kind, "error", err)
		return mailError(kind, "configure auth.smtp (host, port, from)")
	}
	return nil
}

// renderMail renders template t of kind for d, addressed to to.
func (s *Service) renderMail(t mailTemplate, kind templateKind, to string, d templateData) (mailMessage, error) {
	if d.SiteURL == "" {
		d.SiteURL = s.SiteURL()
	}
	if d.Email == "" {
		d.Email = to
	}
	m, err := t.render(d)
	if err != nil {
		s.log.Error("auth email template does not render", "kind", kind, "error", err)
		return mailMessage{}, mailError(kind, "the "+string(kind)+" template does not render: "+err.Error())
	}
	return mailMessage{To: to, Subject: m.Subject, HTML: m.HTML, Text: m.Text}, nil
}

// verifyURL is the link an email carries: GET /auth/v1/verify, which
// redeems the token and redirects to the application.
func (s *Service) verifyURL(linkToken, typ, redirectTo string) string {
	v := url.Values{"token": {linkToken}, "type": {typ}}
	if redirectTo != "" {
		v.Set("redirect_to", redirectTo)
	}
	return s.publicURL + "/auth/v1/verify?" + v.Encode()
}
