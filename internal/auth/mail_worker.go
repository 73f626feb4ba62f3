package auth

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The outbox worker. Every replica runs one; they share the work through
// row locks (FOR UPDATE SKIP LOCKED) and leases, so each message is sent by
// one of them. A claim takes a lease by moving next_attempt_at past the
// longest a delivery can take: a worker that dies while sending leaves the
// row to be claimed again when the lease ends, so delivery is at least
// once — a crash between the SMTP server accepting a message and the row
// being marked sent is the one case that mails twice.

const (
	// mailPollInterval bounds how long a queued message waits when a
	// notification is lost (the listening connection is down).
	mailPollInterval = 10 * time.Second
	// mailMinWait keeps a worker from spinning on rows another replica is
	// claiming at this very moment.
	mailMinWait = 200 * time.Millisecond
	// mailClaimBatch is how many messages one claim takes; they are sent
	// concurrently.
	mailClaimBatch = 4
	// mailLease is how long a claimed message is left to its worker.
	mailLease = 2*smtpTimeout + 10*time.Second
	// mailMaxBackoff caps the wait between two attempts.
	mailMaxBackoff = time.Hour
	// mailCleanupInterval is how often sent, dropped and failed rows past
	// auth.mailer.outbox_retention are deleted.
	mailCleanupInterval = time.Minute
)

// RunMailer delivers the mail outbox until ctx is cancelled: it wakes on
// the NOTIFY a queued message sends, or every mailPollInterval, or when a
// retry falls due; it sends what is due, retries failures with exponential
// backoff and jitter up to auth.mailer.max_attempts, and deletes rows past
// auth.mailer.outbox_retention.
func (s *Service) RunMailer(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wake := make(chan struct{}, 1)
	wg.Go(func() { s.listenOutbox(ctx, wake) })
	var cleaned time.Time
	for {
		wait := s.deliverDue(ctx)
		if time.Since(cleaned) >= mailCleanupInterval && ctx.Err() == nil {
			if err := s.cleanOutbox(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("cleaning the mail outbox failed", "error", err)
			}
			cleaned = time.Now()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// listenOutbox relays the outbox notifications to wake, on a connection of
// its own (not one of the pool's), reconnecting after a failure.
func (s *Service) listenOutbox(ctx context.Context, wake chan<- struct{}) {
	delay := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		err := s.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			delay = time.Second
		}
		s.log.Warn("listening for queued mail failed; polling until it is back", "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func (s *Service) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	conn, err := pgx.ConnectConfig(ctx, s.db.Admin.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(c)
	}()
	if _, err := conn.Exec(ctx, "listen "+pgx.Identifier{mailOutboxChannel}.Sanitize()); err != nil {
		return err
	}
	// Whatever was queued while nobody listened is due now.
	signal(wake)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		signal(wake)
	}
}

func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// claimedMail is an outbox row a worker holds the lease of.
type claimedMail struct {
	ID       string
	Kind     string
	Sealed   string
	Attempts int
	// Stale is set when the message is older than the links and codes
	// it carries.
	Stale bool
}

// errMailStale is recorded for a message that could not be sent before
// what it carries expired: delivering it would only mail a dead link.
var errMailStale = errors.New("not sent before its link and code expired")

// deliverDue sends every message that is due and returns how long to wait
// before the next one is.
func (s *Service) deliverDue(ctx context.Context) time.Duration {
	for ctx.Err() == nil {
		batch, err := s.claimMail(ctx, mailClaimBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("claiming queued mail failed", "error", err)
			}
			return mailPollInterval
		}
		if len(batch) == 0 {
			break
		}
		var wg sync.WaitGroup
		for _, m := range batch {
			wg.Go(func() { s.deliver(ctx, m) })
		}
		wg.Wait()
	}
	var secs *float64
	err := s.db.Admin.QueryRow(ctx, `select extract(epoch from min(next_attempt_at) - now())::float8
		from auth.mail_outbox where state = 'pending'`).Scan(&secs)
	if err != nil || secs == nil {
		return mailPollInterval
	}
	return min(max(time.Duration(*secs*float64(time.Second)), mailMinWait), mailPollInterval)
}

// claimMail takes the lease of up to n due messages. Rows other workers
// are claiming are skipped, not waited for.
func (s *Service) claimMail(ctx context.Context, n int) ([]claimedMail, error) {
	rows, err := s.db.Admin.Query(ctx, `update auth.mail_outbox o
		set attempts = o.attempts + 1, next_attempt_at = now() + $2::interval, updated_at = now()
		where o.id in (select id from auth.mail_outbox
			where state = 'pending' and next_attempt_at <= now()
			order by next_attempt_at limit $1 for update skip locked)
		returning o.id::text, o.kind, o.message, o.attempts, o.created_at < now() - $3::interval`,
		n, mailLease.String(), max(s.cfg.Mailer.LinkExpiry, s.cfg.Mailer.OTPExpiry).String())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[claimedMail])
}

// deliver sends one claimed message and records the outcome.
func (s *Service) deliver(ctx context.Context, m claimedMail) {
	if m.Stale {
		s.finishMail(ctx, m, errMailStale, true)
		return
	}
	msg, err := s.openMail(m)
	if err != nil {
		// Retrying cannot help a message that does not decrypt.
		s.finishMail(ctx, m, err, true)
		return
	}
	sender, err := newSMTPSender(s.cfg.SMTP)
	if err == nil {
		err = sender.Send(ctx, msg)
	}
	if ctx.Err() != nil && err != nil {
		// Shutting down: the lease runs out and another worker sends it.
		return
	}
	s.finishMail(ctx, m, err, false)
}

func (s *Service) openMail(m claimedMail) (mailMessage, error) {
	var msg mailMessage
	raw, err := s.crypt.Decrypt(m.Sealed, outboxAAD(m.ID))
	if err != nil {
		return msg, err
	}
	err = json.Unmarshal([]byte(raw), &msg)
	return msg, err
}

// finishMail records a delivery: sent (the message is erased), failed for
// good (after auth.mailer.max_attempts, or when permanent; a stale message
// is erased too), or due again after a backoff.
func (s *Service) finishMail(ctx context.Context, m claimedMail, sendErr error, permanent bool) {
	// The outcome is recorded even when shutdown begins right after the
	// send: an unrecorded success would be sent again.
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	switch {
	case sendErr == nil:
		_, err = s.db.Admin.Exec(c, `update auth.mail_outbox set state = 'sent', sent_at = now(), message = null,
			last_error = null, next_attempt_at = now(), updated_at = now() where id = $1`, m.ID)
	case errors.Is(sendErr, errMailStale):
		s.log.Warn("dropping an auth email that expired before it could be sent", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts)
		_, err = s.db.Admin.Exec(c, `update auth.mail_outbox set state = 'failed', last_error = $2, message = null,
			next_attempt_at = now(), updated_at = now() where id = $1`, m.ID, sendErr.Error())
	case permanent || m.Attempts >= s.cfg.Mailer.MaxAttempts:
		s.log.Error("giving up on an auth email", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts, "error", sendErr)
		_, err = s.db.Admin.Exec(c, `update auth.mail_outbox set state = 'failed', last_error = $2,
			next_attempt_at = now(), updated_at = now() where id = $1`, m.ID, sendErr.Error())
	default:
		wait := mailBackoff(s.cfg.Mailer.RetryBackoff, m.Attempts)
		s.log.Warn("sending an auth email failed; will retry", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts, "retry_in", wait, "error", sendErr)
		_, err = s.db.Admin.Exec(c, `update auth.mail_outbox set last_error = $2,
			next_attempt_at = now() + $3::interval, updated_at = now() where id = $1`, m.ID, sendErr.Error(), wait.String())
	}
	if err != nil {
		s.log.Error("recording an auth email delivery failed", "id", m.ID, "error", err)
	}
}

// mailBackoff is the wait after the attempts-th failure: base doubled per
// earlier failure, at most mailMaxBackoff, with "equal jitter" (a random
// point in its upper half) so that replicas and messages that failed
// together do not retry together.
func mailBackoff(base time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < mailMaxBackoff; i++ {
		d *= 2
	}
	d = min(d, mailMaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// cleanOutbox deletes sent, dropped and failed rows older than the
// retention.
func (s *Service) cleanOutbox(ctx context.Context) error {
	_, err := s.db.Admin.Exec(ctx, `delete from auth.mail_outbox where state <> 'pending' and updated_at < now() - $1::interval`,
		s.cfg.Mailer.OutboxRetention.String())
	return err
}
