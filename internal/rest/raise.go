package rest

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// raisedResponse turns RAISE SQLSTATE 'PGRST' into the response it asks
// for, as PostgREST does: MESSAGE is a JSON object {code, message, details?,
// hint?} that becomes the error body, and DETAIL a JSON object {status,
// status_text?, headers} with the HTTP status and response headers. A
// MESSAGE or DETAIL that does not have that shape is reported as
// 500 PGRST121. status_text is accepted; Go writes the standard reason
// phrase.
func raisedResponse(pe *pgconn.PgError) (*httpx.Error, map[string]string) {
	var msg struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
		Details *string `json:"details"`
		Hint    *string `json:"hint"`
	}
	if !decodeObject(pe.Message, &msg) || msg.Code == nil || msg.Message == nil {
		return errRaiseParse("Invalid JSON value for MESSAGE: '"+pe.Message+"'",
			"MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'."), nil
	}
	detHint := "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'."
	if pe.Detail == "" {
		return errRaiseParse("DETAIL is missing in the RAISE statement", detHint), nil
	}
	var det struct {
		Status     *int              `json:"status"`
		StatusText *string           `json:"status_text"`
		Headers    map[string]string `json:"headers"`
	}
	if !decodeObject(pe.Detail, &det) || det.Status == nil || det.Headers == nil || *det.Status < 100 || *det.Status > 599 {
		return errRaiseParse("Invalid JSON value for DETAIL: '"+pe.Detail+"'", detHint), nil
	}
	e := &httpx.Error{Status: *det.Status, Code: *msg.Code, Message: *msg.Message, Err: pe}
	if msg.Details != nil {
		e.Details = *msg.Details
	}
	if msg.Hint != nil {
		e.Hint = *msg.Hint
	}
	return e, det.Headers
}

// decodeObject decodes a JSON object strictly: nothing may follow it, and
// each field must have the type v gives it.
func decodeObject(s string, v any) bool {
	b := bytes.TrimSpace([]byte(s))
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func errRaiseParse(details, hint string) *httpx.Error {
	return httpx.NewError(http.StatusInternalServerError, "PGRST121", `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`).
		WithDetails(details).WithHint(hint)
}
