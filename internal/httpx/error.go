package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is the one error type every Fluxbase endpoint renders. Its JSON body
// is {code, message, details, hint}; details and hint are null when unset.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details"`
	Hint    any    `json:"hint"`
	// Err is the underlying cause; logged, never rendered.
	Err error `json:"-"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(details any) *Error {
	c := *e
	c.Details = details
	return &c
}

// WithHint returns a copy of e carrying hint.
func (e *Error) WithHint(hint string) *Error {
	c := *e
	c.Hint = hint
	return &c
}

// NewError builds an Error.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Errorf builds an Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common errors. Codes are stable strings that clients may match on.
var (
	ErrNotFound         = NewError(http.StatusNotFound, "not_found", "no route matches this path")
	ErrMethodNotAllowed = NewError(http.StatusMethodNotAllowed, "method_not_allowed", "this method is not allowed on this path")
	ErrInternal         = NewError(http.StatusInternalServerError, "internal_error", "an internal error occurred")
	ErrBodyTooLarge     = NewError(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than the server accepts")
	ErrUnauthorized     = NewError(http.StatusUnauthorized, "unauthorized", "authentication is required")
)

// AsError turns any error into an *Error: an *Error found in the chain is
// returned as is, anything else becomes a 500 that keeps the cause for the
// log only.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return ErrBodyTooLarge.WithDetails(fmt.Sprintf("limit is %d bytes", mbe.Limit))
	}
	c := *ErrInternal
	c.Err = err
	return &c
}

// WriteError renders err as JSON with its status. Errors of status 500 and
// above are recorded on the request so that the access log shows the cause.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := AsError(err)
	if r != nil && e.Status >= 500 {
		recordCause(r, e)
	}
	WriteJSON(w, e.Status, e)
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":"internal_error","message":"response encoding failed","details":null,"hint":null}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
