package auth

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// User is GoTrue's user object, the shape both route families answer and
// auth-js reads.
type User struct {
	ID                     string         `json:"id"`
	Aud                    string         `json:"aud"`
	Role                   string         `json:"role"`
	Email                  string         `json:"email"`
	EmailConfirmedAt       *time.Time     `json:"email_confirmed_at,omitempty"`
	Phone                  string         `json:"phone"`
	PhoneConfirmedAt       *time.Time     `json:"phone_confirmed_at,omitempty"`
	ConfirmationSentAt     *time.Time     `json:"confirmation_sent_at,omitempty"`
	ConfirmedAt            *time.Time     `json:"confirmed_at,omitempty"`
	RecoverySentAt         *time.Time     `json:"recovery_sent_at,omitempty"`
	NewEmail               string         `json:"new_email,omitempty"`
	EmailChangeSentAt      *time.Time     `json:"email_change_sent_at,omitempty"`
	NewPhone               string         `json:"new_phone,omitempty"`
	PhoneChangeSentAt      *time.Time     `json:"phone_change_sent_at,omitempty"`
	ReauthenticationSentAt *time.Time     `json:"reauthentication_sent_at,omitempty"`
	InvitedAt              *time.Time     `json:"invited_at,omitempty"`
	LastSignInAt           *time.Time     `json:"last_sign_in_at,omitempty"`
	AppMetadata            map[string]any `json:"app_metadata"`
	UserMetadata           map[string]any `json:"user_metadata"`
	Identities             []Identity     `json:"identities"`
	Factors                []Factor       `json:"factors,omitempty"`
	BannedUntil            *time.Time     `json:"banned_until,omitempty"`
	CreatedAt              time.Time      `json:"created_at"`
	UpdatedAt              time.Time      `json:"updated_at"`
	DeletedAt              *time.Time     `json:"deleted_at,omitempty"`
	IsAnonymous            bool           `json:"is_anonymous"`

	// Not rendered: what sign-in and token issuing need.
	passwordHash string
}

// Identity is GoTrue's identity object: one way of signing in as a user.
type Identity struct {
	IdentityID   string         `json:"identity_id"`
	ID           string         `json:"id"`
	UserID       string         `json:"user_id"`
	IdentityData map[string]any `json:"identity_data"`
	Provider     string         `json:"provider"`
	LastSignInAt *time.Time     `json:"last_sign_in_at,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Email        string         `json:"email,omitempty"`
}

// Factor is GoTrue's MFA factor object.
type Factor struct {
	ID           string    `json:"id"`
	FriendlyName string    `json:"friendly_name,omitempty"`
	FactorType   string    `json:"factor_type"`
	Status       string    `json:"status"`
	Phone        string    `json:"phone,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Session is the session object: what sign-in, sign-up and token grants
// answer in both families.
type Session struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	ExpiresAt    int64  `json:"expires_at"`
	RefreshToken string `json:"refresh_token"`
	User         *User  `json:"user"`
	// WeakPassword tells a client that signed in with a password that no
	// longer meets the policy.
	WeakPassword *WeakPassword `json:"weak_password,omitempty"`
}

// WeakPassword lists why a password does not meet the policy. GoTrue's
// reasons: length, characters, pwned.
type WeakPassword struct {
	Message string   `json:"message,omitempty"`
	Reasons []string `json:"reasons"`
}

// GoTrue's stable error codes (auth-js ErrorCode).
const (
	CodeUnexpectedFailure       = "unexpected_failure"
	CodeValidationFailed        = "validation_failed"
	CodeBadJSON                 = "bad_json"
	CodeEmailExists             = "email_exists"
	CodePhoneExists             = "phone_exists"
	CodeBadJWT                  = "bad_jwt"
	CodeNotAdmin                = "not_admin"
	CodeNoAuthorization         = "no_authorization"
	CodeUserNotFound            = "user_not_found"
	CodeSessionNotFound         = "session_not_found"
	CodeSessionExpired          = "session_expired"
	CodeRefreshTokenNotFound    = "refresh_token_not_found"
	CodeRefreshTokenAlreadyUsed = "refresh_token_already_used"
	CodeFlowStateNotFound       = "flow_state_not_found"
	CodeFlowStateExpired        = "flow_state_expired"
	CodeSignupDisabled          = "signup_disabled"
	CodeUserBanned              = "user_banned"
	CodeUserAlreadyExists       = "user_already_exists"
	CodeEmailNotConfirmed       = "email_not_confirmed"
	CodePhoneNotConfirmed       = "phone_not_confirmed"
	CodeInvalidCredentials      = "invalid_credentials"
	CodeWeakPassword            = "weak_password"
	CodeSamePassword            = "same_password"
	CodeOverRequestRateLimit    = "over_request_rate_limit"
	CodeOverEmailSendRateLimit  = "over_email_send_rate_limit"
	CodeOverSMSSendRateLimit    = "over_sms_send_rate_limit"
	CodeAnonymousDisabled       = "anonymous_provider_disabled"
	CodeEmailProviderDisabled   = "email_provider_disabled"
	CodePhoneProviderDisabled   = "phone_provider_disabled"
	CodeEmailAddressInvalid     = "email_address_invalid"
	CodeInsufficientAAL         = "insufficient_aal"
	CodeOTPExpired              = "otp_expired"
	CodeOTPDisabled             = "otp_disabled"
	CodeBadCodeVerifier         = "bad_code_verifier"
	CodeBadOAuthState           = "bad_oauth_state"
	CodeBadOAuthCallback        = "bad_oauth_callback"
	CodeOAuthProviderNotSupport = "oauth_provider_not_supported"
	CodeIdentityAlreadyExists   = "identity_already_exists"
	CodeIdentityNotFound        = "identity_not_found"
	CodeMFAFactorNotFound       = "mfa_factor_not_found"
	CodeMFAFactorNameConflict   = "mfa_factor_name_conflict"
	CodeTooManyMFAFactors       = "too_many_enrolled_mfa_factors"
	CodeMFAChallengeExpired     = "mfa_challenge_expired"
	CodeMFAVerificationFailed   = "mfa_verification_failed"
	CodeMFAIPAddressMismatch    = "mfa_ip_address_mismatch"
	CodeReauthNonceMissing      = "reauth_nonce_missing"
	CodeConflict                = "conflict"
	CodeRequestTimeout          = "request_timeout"
	// Fluxbase's own, for API keys.
	CodeAPIKeyNotFound = "api_key_not_found"
)

// Err builds an auth error: an *httpx.Error whose code is one of the
// GoTrue codes above. Native routes render it as Fluxbase's standard body,
// GoTrue-shaped routes as GoTrue's.
func Err(status int, code, msg string) *httpx.Error { return httpx.NewError(status, code, msg) }

// Frequently used errors, with GoTrue's statuses and messages.
var (
	errInvalidCredentials = Err(http.StatusBadRequest, CodeInvalidCredentials, "Invalid login credentials")
	errRefreshNotFound    = Err(http.StatusBadRequest, CodeRefreshTokenNotFound, "Invalid Refresh Token: Refresh Token Not Found")
	errRefreshUsed        = Err(http.StatusBadRequest, CodeRefreshTokenAlreadyUsed, "Invalid Refresh Token: Already Used")
	errSessionNotFound    = Err(http.StatusUnauthorized, CodeSessionNotFound, "Session from session_id claim in JWT does not exist")
	errSessionExpired     = Err(http.StatusUnauthorized, CodeSessionExpired, "Session has expired")
	// The expired session's deletion must commit, so refresh reports it
	// after its transaction.
	errRefreshSessionExpired = Err(http.StatusBadRequest, CodeSessionExpired, "Invalid Refresh Token: Session Expired")
	errNoAuthorization       = Err(http.StatusUnauthorized, CodeNoAuthorization, "This endpoint requires a valid Bearer token")
	errNotAdmin              = Err(http.StatusForbidden, CodeNotAdmin, "User not allowed")
	errUserNotFound          = Err(http.StatusNotFound, CodeUserNotFound, "User not found")
	errUserBanned            = Err(http.StatusBadRequest, CodeUserBanned, "User is banned")
	errUserExists            = Err(http.StatusUnprocessableEntity, CodeUserAlreadyExists, "User already registered")
	errEmailExists           = Err(http.StatusUnprocessableEntity, CodeEmailExists, "A user with this email address has already been registered")
	errPhoneExists           = Err(http.StatusUnprocessableEntity, CodePhoneExists, "A user with this phone number has already been registered")
	errSignupDisabled        = Err(http.StatusUnprocessableEntity, CodeSignupDisabled, "Signups not allowed for this instance")
	errAnonDisabled          = Err(http.StatusUnprocessableEntity, CodeAnonymousDisabled, "Anonymous sign-ins are disabled")
	errEmailNotConfirmed     = Err(http.StatusBadRequest, CodeEmailNotConfirmed, "Email not confirmed")
	errBadJSON               = Err(http.StatusBadRequest, CodeBadJSON, "Could not parse request body as JSON")
)

func validationFailed(msg string) *httpx.Error {
	return Err(http.StatusBadRequest, CodeValidationFailed, msg)
}

// weakPasswordError carries the reasons in Details, from where the GoTrue
// renderer lifts them into weak_password.reasons.
func weakPasswordError(msg string, reasons []string) *httpx.Error {
	return Err(http.StatusUnprocessableEntity, CodeWeakPassword, msg).
		WithDetails(map[string]any{"reasons": reasons})
}

// rateLimited is a 429 whose Retry-After is the wait in whole seconds.
func rateLimited(code, msg string, wait time.Duration) *httpx.Error {
	secs := int64((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return Err(http.StatusTooManyRequests, code, msg).WithDetails(map[string]any{"retry_after": secs})
}

// setRetryAfter copies a 429's wait into the Retry-After header.
func setRetryAfter(w http.ResponseWriter, e *httpx.Error) {
	if e.Status != http.StatusTooManyRequests {
		return
	}
	if d, ok := e.Details.(map[string]any); ok {
		if n, ok := d["retry_after"].(int64); ok {
			w.Header().Set("Retry-After", strconv.FormatInt(n, 10))
			return
		}
	}
	w.Header().Set("Retry-After", "60")
}

// apiVersionHeader is what auth-js sends and reads to choose the error
// shape: from 2024-01-01 on, errors are {code, message} with the string code.
const (
	apiVersionHeader = "X-Supabase-Api-Version"
	apiVersion       = "2024-01-01"
)

// writeGoTrueError renders err as GoTrue does. Clients that announce API
// version 2024-01-01 or later get {"code": "<error code>", "message"};
// older ones {"code": <status>, "error_code", "msg"}. A weak password adds
// weak_password.reasons either way; a 429 carries Retry-After.
func writeGoTrueError(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.AsError(err)
	if e.Status >= 500 {
		// Logged with its cause by the access log; the body stays generic.
		httpx.WriteError(w, r, e)
		return
	}
	setRetryAfter(w, e)
	body := map[string]any{}
	if newErrorShape(r) {
		body["code"] = e.Code
		body["message"] = e.Message
	} else {
		body["code"] = e.Status
		body["error_code"] = e.Code
		body["msg"] = e.Message
	}
	if e.Code == CodeWeakPassword {
		if d, ok := e.Details.(map[string]any); ok {
			body["weak_password"] = map[string]any{"reasons": d["reasons"]}
		}
	}
	w.Header().Set(apiVersionHeader, apiVersion)
	httpx.WriteJSON(w, e.Status, body)
}

func newErrorShape(r *http.Request) bool {
	v := strings.TrimSpace(r.Header.Get(apiVersionHeader))
	if v == "" {
		return false
	}
	t, err := time.Parse("2006-01-02", v)
	return err == nil && !t.Before(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
}

// writeNativeError renders err as every Fluxbase endpoint does, adding
// Retry-After to a 429.
func writeNativeError(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.AsError(err)
	setRetryAfter(w, e)
	httpx.WriteError(w, r, e)
}

// decodeJSON reads a JSON request body into v. An empty body decodes as
// {} (auth-js sends bodies, curl users often do not); anything else that is
// not one JSON object is bad_json.
func decodeJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if err.Error() == "EOF" {
			return nil
		}
		e := httpx.AsError(err)
		if e.Status == http.StatusRequestEntityTooLarge {
			return e
		}
		return errBadJSON.WithDetails(err.Error())
	}
	if dec.More() {
		return errBadJSON.WithDetails("the body holds more than one JSON value")
	}
	return nil
}
