package rest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// responseSettings ends the select list of every statement with the
// response.headers and response.status settings, which SQL run by the
// request (a function, a trigger) may set with set_config(..., true) to
// add response headers or change the status, as in PostgREST. They are
// read after the rest of the row, so after everything the statement ran.
const responseSettings = ", nullif(current_setting('response.headers', true), '') AS response_headers" +
	", nullif(current_setting('response.status', true), '') AS response_status"

// responseOverride is what response.headers and response.status ask for.
type responseOverride struct {
	status  int
	headers [][2]string
}

// parseResponseSettings checks the settings as PostgREST does: headers a
// JSON array of objects with one string value each (else 500 PGRST111),
// status an integer HTTP status (else 500 PGRST112).
func parseResponseSettings(headers, status *string) (*responseOverride, error) {
	if headers == nil && status == nil {
		return nil, nil
	}
	o := &responseOverride{}
	if headers != nil {
		var list []map[string]string
		if err := json.Unmarshal([]byte(*headers), &list); err != nil {
			return nil, errGucHeaders()
		}
		for _, h := range list {
			if len(h) != 1 {
				return nil, errGucHeaders()
			}
			for k, v := range h {
				o.headers = append(o.headers, [2]string{k, v})
			}
		}
	}
	if status != nil {
		n, err := strconv.Atoi(strings.TrimSpace(*status))
		if err != nil || n < 100 || n > 599 {
			return nil, httpx.NewError(http.StatusInternalServerError, "PGRST112", "response.status guc must be a valid status code")
		}
		o.status = n
	}
	return o, nil
}

func errGucHeaders() *httpx.Error {
	return httpx.NewError(http.StatusInternalServerError, "PGRST111",
		"response.headers guc must be a JSON array composed of objects with a single key and a string value")
}

// statusOr returns the status response.status asks for, else status.
func (o *responseOverride) statusOr(status int) int {
	if o == nil || o.status == 0 {
		return status
	}
	return o.status
}

// setHeaders sets the headers of response.headers, replacing Fluxbase's own
// of the same name (Content-Type included), except the ones that frame the
// message, which stay Fluxbase's.
func (o *responseOverride) setHeaders(h http.Header) {
	if o == nil {
		return
	}
	for _, kv := range o.headers {
		if framingHeader(kv[0]) {
			continue
		}
		h.Del(kv[0])
	}
	for _, kv := range o.headers {
		if framingHeader(kv[0]) {
			continue
		}
		h.Add(kv[0], kv[1])
	}
}

func framingHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Length", "Transfer-Encoding", "Connection", "Trailer", "Upgrade":
		return true
	}
	return false
}
