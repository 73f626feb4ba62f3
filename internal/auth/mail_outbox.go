package auth

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
)

// The mail outbox (auth.mail_outbox). A flow that mails something queues
// the rendered message in the same implicit transaction as the one-time
// token it carries, sent as one pipelined batch: one round trip, all or
// nothing. The answer never waits for the mail server; the worker
// (mail_worker.go) delivers it. A flow that mails nothing (no such
// account, a banned one) records a 'dropped' row in a batch of the same
// shape, so that both answers cost the same work.

// mailOutboxChannel is the NOTIFY channel that wakes the workers.
const mailOutboxChannel = "auth_mail_outbox"

// outboxAAD binds a sealed message to its row.
func outboxAAD(id string) string { return "mail_outbox:" + id }

// queueMail adds m to b: the outbox row, encrypted, and the notification
// that wakes the workers when b commits.
func (s *Service) queueMail(b *pgx.Batch, kind templateKind, userID string, m mailMessage) error {
	id := newUUIDString()
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	sealed, err := s.crypt.Encrypt(string(raw), outboxAAD(id))
	if err != nil {
		return err
	}
	var user any
	if userID != "" {
		user = userID
	}
	b.Queue(`insert into auth.mail_outbox (id, kind, recipient, user_id, message) values ($1, $2, $3, $4, $5)`,
		id, string(kind), m.To, user, sealed)
	b.Queue(`select pg_notify($1, '')`, mailOutboxChannel)
	return nil
}

// dropMail is the path of a flow that sends nothing to address. It does
// what the sending path does — read and render the template, seal the
// message, look for the tokens it would replace — and writes one outbox
// row (state dropped, with the reason, without the message) in a batch of
// the same shape, so that an observer cannot tell the two apart by their
// timing. probes are the caller's own statements, run against a user that
// does not exist.
func (s *Service) dropMail(c context.Context, kind templateKind, address, reason string, probes ...func(userID string) statement) error {
	t, err := s.mailTemplateFor(c, kind)
	if err != nil {
		return err
	}
	nobody := newUUIDString()
	tok, _ := s.tokenStatements(nobody, "", address, "", "")
	m, err := s.renderMail(t, kind, address, templateData{
		ConfirmationURL: s.verifyURL(tok.LinkToken, "email", ""), Token: tok.Code, TokenHash: tok.LinkToken,
	})
	if err != nil {
		return err
	}
	id := newUUIDString()
	if raw, err := json.Marshal(m); err == nil {
		_, _ = s.crypt.Encrypt(string(raw), outboxAAD(id))
	}
	b := &pgx.Batch{}
	b.Queue(`delete from auth.one_time_tokens where user_id = $1 and token_type = $2`, nobody, "")
	b.Queue(`insert into auth.mail_outbox (id, kind, recipient, state, last_error) values ($1, $2, $3, 'dropped', $4)`,
		id, string(kind), address, reason)
	b.Queue(`select pg_notify($1, '')`, mailOutboxChannel)
	for _, p := range probes {
		queueStatements(b, p(nobody))
	}
	return s.db.Admin.SendBatch(c, b).Close()
}

// queueStatements adds statements to b.
func queueStatements(b *pgx.Batch, stmts ...statement) {
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
}

// auditStatement is the audit-log insert of e, for a batch that must
// record it atomically with the action.
func auditStatement(e auditEntry) statement {
	payload := e.Payload
	if payload == nil {
		payload = map[string]any{}
	}
	b, _ := json.Marshal(payload)
	return statement{`insert into auth.audit_log (action, actor_id, actor_role, user_id, ip, payload)
		values ($1, nullif($2, '')::uuid, nullif($3, ''), nullif($4, '')::uuid, $5, $6)`,
		[]any{e.Action, uuidOrEmpty(e.ActorID), e.ActorRole, uuidOrEmpty(e.UserID), ipOrNil(e.IP), b}}
}

// mailAccount finds the account of an address for a mail flow: the user
// row alone, in one query whether or not it exists (nil, nil when there is
// none).
func (s *Service) mailAccount(c context.Context, email string) (*User, error) {
	u, err := scanUser(s.db.Admin.QueryRow(c, `select `+userColumns+` from auth.users u where u.email = $1`, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return u, err
}

// verifyTypes maps a token type to the type its emailed link verifies as.
var verifyTypes = map[string]string{
	"confirmation": "signup", "recovery": "recovery", "invite": "invite", "magiclink": "magiclink", "otp": "email",
	"email_change_new": "email_change", "email_change_current": "email_change",
}

// queueTokenMail adds to b the issuance of a token of tokenType for u
// (with its PKCE flow when challenge is set), sent to address, and the
// mail of template kind that carries it. newEmail fills {{ .NewEmail }}
// for email changes.
func (s *Service) queueTokenMail(c context.Context, b *pgx.Batch, u *User, tokenType string, kind templateKind,
	address, newEmail, redirect, challenge, challengeMethod string) error {
	t, err := s.mailTemplateFor(c, kind)
	if err != nil {
		return err
	}
	flow, st, err := emailFlowStatement(u.ID, methodOf(tokenType), challenge, challengeMethod, s.cfg.Mailer.LinkExpiry)
	if err != nil {
		return err
	}
	if st != nil {
		queueStatements(b, *st)
	}
	tok, stmts := s.tokenStatements(u.ID, tokenType, address, flow, redirect)
	queueStatements(b, stmts...)
	oldEmail := u.Email
	if oldEmail == "" {
		oldEmail = address
	}
	m, err := s.renderMail(t, kind, address, templateData{
		ConfirmationURL: s.verifyURL(tok.LinkToken, verifyTypes[tokenType], redirect),
		Token:           tok.Code, TokenHash: tok.LinkToken, Email: oldEmail, NewEmail: newEmail,
		RedirectTo: redirect, Data: u.UserMetadata,
	})
	if err != nil {
		return err
	}
	return s.queueMail(b, kind, u.ID, m)
}

// mailToken issues a token and queues its mail, with extra statements, in
// one round trip and one transaction.
func (s *Service) mailToken(c context.Context, u *User, tokenType string, kind templateKind,
	address, newEmail, redirect, challenge, challengeMethod string, extra ...statement) error {
	b := &pgx.Batch{}
	if err := s.queueTokenMail(c, b, u, tokenType, kind, address, newEmail, redirect, challenge, challengeMethod); err != nil {
		return err
	}
	queueStatements(b, extra...)
	return s.db.Admin.SendBatch(c, b).Close()
}
