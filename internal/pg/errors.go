package pg

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// Codes of the errors ErrorFrom produces for failures that PostgreSQL did not
// report itself. PostgreSQL's own errors keep their SQLSTATE as the code.
const (
	CodeDatabaseUnavailable = "database_unavailable"
	CodeDatabaseTimeout     = "database_timeout"
	CodeRequestCanceled     = "request_canceled"
)

// AnonRole is the role of callers without a token. Permission errors are 401
// for it (authenticating might help) and 403 for everyone else.
const AnonRole = "anon"

// ErrorFrom maps an error from a database call to the error rendered to the
// client, assuming an authenticated caller. See ErrorFromRole.
func ErrorFrom(err error) *httpx.Error {
	return ErrorFromRole(err, "")
}

// ErrorFromRole maps an error from a database call made as role to the error
// rendered to the client, following PostgREST's published table so that
// clients written against PostgREST or Supabase see the same statuses:
// PostgreSQL errors keep their SQLSTATE as code, message, detail and hint;
// a lost or unreachable server is 503 "database_unavailable"; an *httpx.Error
// already in the chain is returned unchanged. Role only matters for 42501
// (insufficient_privilege): 401 when it is "anon", 403 otherwise.
func ErrorFromRole(err error, role string) *httpx.Error {
	if err == nil {
		return nil
	}
	var he *httpx.Error
	if errors.As(err, &he) {
		return he
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &httpx.Error{
			Status:  StatusForSQLState(pe.Code, pe.Message, role == AnonRole),
			Code:    pe.Code,
			Message: pe.Message,
			Details: nullIfEmpty(pe.Detail),
			Hint:    nullIfEmpty(pe.Hint),
			Err:     err,
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &httpx.Error{Status: http.StatusGatewayTimeout, Code: CodeDatabaseTimeout,
			Message: "the database did not answer in time", Err: err}
	case errors.Is(err, context.Canceled):
		// Almost always the client went away; the status is for the log.
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: CodeRequestCanceled,
			Message: "the request was canceled before the database answered", Err: err}
	case IsConnectionError(err):
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: CodeDatabaseUnavailable,
			Message: "the database is unavailable", Hint: "retry the request in a moment", Err: err}
	}
	return httpx.AsError(err)
}

// StatusForSQLState is PostgREST's SQLSTATE → HTTP status table (with 503
// for the class 57 states that mean the server is restarting). anonymous
// selects 401 over 403 for insufficient_privilege. message disambiguates
// 22023, which PostgreSQL also raises when a role to switch to is missing.
func StatusForSQLState(code, message string, anonymous bool) int {
	switch code {
	case "23503", "23505": // foreign_key_violation, unique_violation
		return http.StatusConflict
	case "25006": // read_only_sql_transaction
		return http.StatusMethodNotAllowed
	case "42883", "42P01": // undefined_function, undefined_table
		return http.StatusNotFound
	case "42501": // insufficient_privilege
		if anonymous {
			return http.StatusUnauthorized
		}
		return http.StatusForbidden
	case "53400": // configuration_limit_exceeded
		return http.StatusInternalServerError
	case "57P01", "57P02", "57P03":
		// admin_shutdown, crash_shutdown, cannot_connect_now: the server is
		// going away or not up yet. PostgREST says 500 for all of class 57;
		// for these the request may succeed when retried, which is what 503
		// tells clients and load balancers.
		return http.StatusServiceUnavailable
	case "P0001": // raise_exception: the default of RAISE
		return http.StatusBadRequest
	case "22023": // invalid_parameter_value
		if isMissingRoleMessage(message) {
			return http.StatusUnauthorized
		}
		return http.StatusBadRequest
	}
	// PTxyz lets a function choose the status: RAISE SQLSTATE 'PT402'.
	if len(code) == 5 && strings.HasPrefix(code, "PT") {
		if n, err := strconv.Atoi(code[2:]); err == nil && n >= 100 && n <= 599 {
			return n
		}
	}
	if len(code) < 2 {
		return http.StatusInternalServerError
	}
	switch code[:2] {
	case "08", "53": // connection_exception, insufficient_resources
		return http.StatusServiceUnavailable
	case "0L", "0P", "28": // invalid_grantor, invalid_role_specification, invalid_authorization_specification
		return http.StatusForbidden
	case "09", "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "P0", "XX":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// isMissingRoleMessage recognizes `role "x" does not exist`, which is how a
// token naming an unknown role shows up.
func isMissingRoleMessage(m string) bool {
	return strings.HasPrefix(m, "role ") && strings.HasSuffix(m, "does not exist")
}

// IsConnectionError reports whether err means the connection to PostgreSQL
// failed or was lost (as opposed to PostgreSQL rejecting a statement). Such
// errors are worth retrying when nothing has been executed yet.
func IsConnectionError(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return isConnectionSQLState(pe.Code)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case pgconn.SafeToRetry(err),
		errors.As(err, &ce),
		errors.As(err, &ne),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	return isClosedPool(err)
}

// isClosedPool recognizes the error of a pool after Close, which pgxpool
// does not export.
func isClosedPool(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "closed pool" {
			return true
		}
	}
	return false
}

// isConnectionSQLState lists the server-reported states that mean "this
// session is gone or not yet possible", not "this statement is wrong".
func isConnectionSQLState(code string) bool {
	switch code {
	case "57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now: starting up, shutting down, recovering
		"53300": // too_many_connections
		return true
	}
	return strings.HasPrefix(code, "08")
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
