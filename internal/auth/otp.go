package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
)

// One-time tokens. Every issuance gives the user two secrets: a short
// numeric code to type (OTP) and a long random link token for the
// emailed link (and for verifyOtp({token_hash})). Each is stored as its own
// row, hashed, under the same token type; redeeming either deletes every
// token of that type for the user, so each issuance works once, and a new
// issuance replaces the previous one.

// maxCodeAttempts is how many wrong codes an issued code survives: with
// six digits, five guesses leave a 1 in 200 000 chance.
const maxCodeAttempts = 5

var errOTPInvalid = Err(http.StatusForbidden, CodeOTPExpired, "Token has expired or is invalid")

// issuedToken is what a new one-time token hands out.
type issuedToken struct {
	Code      string // numeric, auth.mailer.otp_length digits
	LinkToken string // random, for links and token_hash
}

// codeHash binds a code to its address: two users may get the same six
// digits, and a code is only good for the address it was sent to.
func codeHash(address, code string) []byte { return hashToken("code:" + address + ":" + code) }

// numericCode returns n random decimal digits.
func numericCode(n int) string {
	if n < 6 {
		n = 6
	}
	b := make([]byte, n)
	for i := range b {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic(err)
		}
		b[i] = byte('0' + d.Int64())
	}
	return string(b)
}

// issueToken replaces userID's tokens of tokenType with a new pair sent to
// address. flowID links it to a PKCE flow; redirectTo is where its link
// leads (already checked against the allow-list).
func (s *Service) issueToken(ctx context.Context, q querier, userID, tokenType, address, flowID, redirectTo string) (issuedToken, error) {
	t, stmts := s.tokenStatements(userID, tokenType, address, flowID, redirectTo)
	for _, st := range stmts {
		if _, err := q.Exec(ctx, st.sql, st.args...); err != nil {
			return t, err
		}
	}
	return t, nil
}

// statement is one SQL statement with its arguments, for callers that
// pipeline several in one round trip.
type statement struct {
	sql  string
	args []any
}

// tokenStatements are the statements of issueToken, for a batch.
func (s *Service) tokenStatements(userID, tokenType, address, flowID, redirectTo string) (issuedToken, []statement) {
	t := issuedToken{Code: numericCode(s.cfg.Mailer.OTPLength), LinkToken: randomToken(32)}
	var flow any
	if flowID != "" {
		flow = flowID
	}
	return t, []statement{
		{`delete from auth.one_time_tokens where user_id = $1 and token_type = $2`, []any{userID, tokenType}},
		{`insert into auth.one_time_tokens (user_id, token_type, token_hash, relates_to, flow_state_id, redirect_to, expires_at)
		values ($1, $2, $3, $4, $6, nullif($7, ''), now() + $8::interval),
		       ($1, $2, $5, $4, $6, nullif($7, ''), now() + $9::interval)`,
			[]any{userID, tokenType, codeHash(address, t.Code), address, hashToken(t.LinkToken), flow, redirectTo,
				s.cfg.Mailer.OTPExpiry.String(), s.cfg.Mailer.LinkExpiry.String()}},
	}
}

// redeemedToken is a token that has just been used up.
type redeemedToken struct {
	UserID     string
	Type       string
	Address    string
	FlowID     string
	RedirectTo string
}

// redeemCode uses up the code sent to address for one of types. A wrong
// code counts against every outstanding token of the address, which dies
// after maxCodeAttempts failures.
func (s *Service) redeemCode(ctx context.Context, address, code string, types []string) (redeemedToken, error) {
	if address == "" || code == "" || len(code) > 32 {
		return redeemedToken{}, errOTPInvalid
	}
	t, err := s.redeem(ctx, `relates_to = $1 and token_hash = $2 and token_type = any($3)`, address, codeHash(address, code), types)
	if errors.Is(err, errOTPInvalid) {
		// The last allowed failure expires the issuance (link included);
		// housekeeping deletes it.
		_, _ = s.db.Admin.Exec(ctx, `update auth.one_time_tokens set attempts = attempts + 1,
				expires_at = case when attempts + 1 >= $3 then least(expires_at, now() - interval '1 second') else expires_at end
			where relates_to = $1 and token_type = any($2)`,
			address, types, maxCodeAttempts)
	}
	return t, err
}

// redeemLink uses up a link token (token_hash) of one of types.
func (s *Service) redeemLink(ctx context.Context, linkToken string, types []string) (redeemedToken, error) {
	if linkToken == "" || len(linkToken) > 128 {
		return redeemedToken{}, errOTPInvalid
	}
	return s.redeem(ctx, `token_hash = $1 and token_type = any($2)`, hashToken(linkToken), types)
}

func (s *Service) redeem(ctx context.Context, where string, args ...any) (redeemedToken, error) {
	var t redeemedToken
	var expired bool
	var flow, redirect *string
	err := pgx.BeginFunc(ctx, s.db.Admin, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `select user_id::text, token_type, relates_to, flow_state_id::text, redirect_to, expires_at < now()
			from auth.one_time_tokens where `+where+` for update`, args...).
			Scan(&t.UserID, &t.Type, &t.Address, &flow, &redirect, &expired)
		if errors.Is(err, pgx.ErrNoRows) {
			return errOTPInvalid
		}
		if err != nil {
			return err
		}
		// The pair goes either way: an expired token is as dead as a used one.
		_, err = tx.Exec(ctx, `delete from auth.one_time_tokens where user_id = $1 and token_type = $2`, t.UserID, t.Type)
		return err
	})
	if err != nil {
		return redeemedToken{}, err
	}
	if expired {
		return redeemedToken{}, errOTPInvalid
	}
	if flow != nil {
		t.FlowID = *flow
	}
	if redirect != nil {
		t.RedirectTo = *redirect
	}
	return t, nil
}

// emailFlowStatement records a PKCE flow for an emailed link when the
// client sent a code challenge; for the implicit flow it returns "" and no
// statement.
func emailFlowStatement(userID, method, challenge, challengeMethod string, ttl time.Duration) (string, *statement, error) {
	challenge, challengeMethod, err := parsePKCE(challenge, challengeMethod)
	if err != nil {
		return "", nil, validationFailed(err.Error())
	}
	if challenge == "" {
		return "", nil, nil
	}
	id := newUUIDString()
	return id, &statement{`insert into auth.flow_state (id, user_id, code_challenge, code_challenge_method, provider,
		authentication_method, expires_at) values ($1, $2, $3, $4, 'email', $5, now() + $6::interval)`,
		[]any{id, userID, challenge, challengeMethod, method, ttl.String()}}, nil
}

// issueAuthCode turns an email flow into a redeemable authorization code
// once its link has been followed.
func (s *Service) issueAuthCode(ctx context.Context, flowID, userID, method string) (string, error) {
	code := randomToken(32)
	tag, err := s.db.Admin.Exec(ctx, `update auth.flow_state set auth_code_hash = $2, user_id = $3, authentication_method = $4,
		auth_code_issued_at = now(), expires_at = now() + $5::interval, updated_at = now()
		where id = $1 and auth_code_hash is null`, flowID, hashToken(code), userID, method, authCodeTTL.String())
	if err != nil {
		return "", err
	}
	if tag.RowsAffected() == 0 {
		return "", Err(http.StatusNotFound, CodeFlowStateNotFound, "invalid flow state, no valid flow state found")
	}
	return code, nil
}
