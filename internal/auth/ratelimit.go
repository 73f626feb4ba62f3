package auth

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// hit counts one event against key in the current fixed window of length
// window and reports whether the count is within limit; otherwise how long
// until the window ends. Counters live in auth.rate_limits, so a limit
// holds across replicas.
func (s *Service) hit(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	now := s.now()
	start := now.Truncate(window)
	var hits int
	err := s.db.Admin.QueryRow(ctx, `insert into auth.rate_limits as r (key, window_start, hits) values ($1, $2, 1)
		on conflict (key, window_start) do update set hits = r.hits + 1 returning hits`, key, start).Scan(&hits)
	if err != nil {
		return false, 0, err
	}
	if hits > limit {
		return false, start.Add(window).Sub(now), nil
	}
	return true, 0, nil
}

// limitIP applies the per-client-address limit of one endpoint family
// (sign_in, sign_up, token_refresh, otp, verify, anonymous, email_sent).
func (s *Service) limitIP(r *http.Request, family string) error {
	rl := s.cfg.RateLimit
	if !rl.Enabled {
		return nil
	}
	var limit int
	switch family {
	case "sign_in":
		limit = rl.SignIn
	case "sign_up":
		limit = rl.SignUp
	case "token_refresh":
		limit = rl.TokenRefresh
	case "otp":
		limit = rl.OTP
	case "verify":
		limit = rl.Verify
	case "anonymous":
		limit = rl.Anonymous
	case "email_sent":
		limit = rl.EmailSent
	default:
		return nil
	}
	ok, wait, err := s.hit(r.Context(), "ip:"+family+":"+httpx.ClientIP(r), limit, rl.Window)
	if err != nil {
		return err
	}
	if !ok {
		code := CodeOverRequestRateLimit
		if family == "email_sent" {
			code = CodeOverEmailSendRateLimit
		}
		return rateLimited(code, "Request rate limit reached", wait)
	}
	return nil
}

// signInLocked reports whether an account is backing off after failed
// sign-ins, and for how long.
func (s *Service) signInLocked(ctx context.Context, account string) (time.Duration, error) {
	if !s.cfg.RateLimit.Enabled {
		return 0, nil
	}
	var until *time.Time
	err := s.db.Admin.QueryRow(ctx, `select max(locked_until) from auth.sign_in_failures where account = $1`, account).Scan(&until)
	if err != nil {
		return 0, err
	}
	if until != nil && until.After(s.now()) {
		return until.Sub(s.now()), nil
	}
	return 0, nil
}

// signInFailed counts a failed sign-in of an account (whether or not it
// exists, so that the backoff reveals nothing) and locks it for a doubling
// wait once it has failed auth.rate_limit.failed_sign_ins times.
func (s *Service) signInFailed(ctx context.Context, account string) error {
	if !s.cfg.RateLimit.Enabled {
		return nil
	}
	rl := s.cfg.RateLimit
	var failures int
	err := s.db.Admin.QueryRow(ctx, `insert into auth.sign_in_failures as f (account, failures, last_failure) values ($1, 1, now())
		on conflict (account) do update set failures = f.failures + 1, last_failure = now() returning failures`, account).Scan(&failures)
	if err != nil {
		return err
	}
	if failures < rl.FailedSignIns {
		return nil
	}
	exp := float64(failures - rl.FailedSignIns)
	wait := time.Duration(math.Min(float64(rl.FailedSignInMaxBackoff), float64(rl.FailedSignInBackoff)*math.Pow(2, math.Min(exp, 40))))
	_, err = s.db.Admin.Exec(ctx, `update auth.sign_in_failures set locked_until = now() + $2::interval where account = $1`,
		account, wait.String())
	return err
}

// signInSucceeded forgets an account's failures.
func (s *Service) signInSucceeded(ctx context.Context, account string) {
	if _, err := s.db.Admin.Exec(ctx, `delete from auth.sign_in_failures where account = $1`, account); err != nil {
		s.log.Warn("clearing sign-in failures failed", "error", err)
	}
}
