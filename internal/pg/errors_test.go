package pg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

func TestStatusForSQLState(t *testing.T) {
	cases := []struct {
		code, message string
		anonymous     bool
		want          int
	}{
		{"08006", "", false, 503},
		{"08P01", "", false, 503},
		{"09000", "", false, 500},
		{"0L000", "", false, 403},
		{"0LP01", "", false, 403},
		{"0P000", "", false, 403},
		{"23503", "", false, 409},
		{"23505", "", false, 409},
		{"23502", "", false, 400}, // not_null_violation: "other"
		{"23514", "", false, 400}, // check_violation
		{"22P02", "", false, 400}, // invalid_text_representation
		{"22023", "invalid value for parameter", false, 400},
		{"22023", `role "nobody" does not exist`, false, 401},
		{"25006", "", false, 405},
		{"25001", "", false, 500},
		{"25P02", "", false, 500},
		{"28000", "", false, 403},
		{"28P01", "", false, 403},
		{"2D000", "", false, 500},
		{"38001", "", false, 500},
		{"39004", "", false, 500},
		{"3B001", "", false, 500},
		{"40001", "", false, 500},
		{"40P01", "", false, 500},
		{"53000", "", false, 503},
		{"53300", "", false, 503},
		{"53400", "", false, 500},
		{"54001", "", false, 500},
		{"55P03", "", false, 500},
		{"57014", "", false, 500},
		{"57P01", "", false, 503},
		{"57P02", "", false, 503},
		{"57P03", "", false, 503},
		{"57P04", "", false, 500},
		{"58030", "", false, 500},
		{"F0000", "", false, 500},
		{"HV000", "", false, 500},
		{"P0001", "", false, 400},
		{"P0002", "", false, 500},
		{"XX000", "", false, 500},
		{"42883", "", false, 404},
		{"42P01", "", false, 404},
		{"42501", "", false, 403},
		{"42501", "", true, 401},
		{"42703", "", false, 400},
		{"42601", "", false, 400},
		{"PT402", "", false, 402},
		{"PT418", "", false, 418},
		{"PT999", "", false, 400}, // not a status: "other"
		{"", "", false, 500},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/anon=%v", c.code, c.anonymous), func(t *testing.T) {
			if got := StatusForSQLState(c.code, c.message, c.anonymous); got != c.want {
				t.Fatalf("StatusForSQLState(%q, %q, %v) = %d, want %d", c.code, c.message, c.anonymous, got, c.want)
			}
		})
	}
}

func TestErrorFrom(t *testing.T) {
	unique := &pgconn.PgError{Severity: "ERROR", Code: "23505", Message: `duplicate key value violates unique constraint "t_pkey"`,
		Detail: "Key (id)=(1) already exists."}
	raise := &pgconn.PgError{Severity: "ERROR", Code: "P0001", Message: "I refuse!", Detail: "Pretty simple", Hint: "There is nothing you can do."}
	denied := &pgconn.PgError{Severity: "ERROR", Code: "42501", Message: "permission denied for table secrets"}
	own := httpx.NewError(http.StatusTeapot, "teapot", "short and stout")

	cases := []struct {
		name        string
		err         error
		role        string
		wantStatus  int
		wantCode    string
		wantMessage string
		wantDetails any
		wantHint    any
	}{
		{"unique violation", unique, "authenticated", 409, "23505", unique.Message, unique.Detail, nil},
		{"wrapped pg error", fmt.Errorf("insert: %w", unique), "authenticated", 409, "23505", unique.Message, unique.Detail, nil},
		{"raise with detail and hint", raise, "authenticated", 400, "P0001", "I refuse!", "Pretty simple", "There is nothing you can do."},
		{"denied to anon", denied, "anon", 401, "42501", denied.Message, nil, nil},
		{"denied to a user", denied, "authenticated", 403, "42501", denied.Message, nil, nil},
		{"denied, role unknown", denied, "", 403, "42501", denied.Message, nil, nil},
		{"httpx error kept", fmt.Errorf("wrapped: %w", own), "anon", 418, "teapot", "short and stout", nil, nil},
		{"connect error", &pgconn.ConnectError{Config: &pgconn.Config{}}, "anon", 503, CodeDatabaseUnavailable, "", nil, nil},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, "anon", 503, CodeDatabaseUnavailable, "", nil, nil},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), "anon", 503, CodeDatabaseUnavailable, "", nil, nil},
		{"conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), "anon", 503, CodeDatabaseUnavailable, "", nil, nil},
		{"closed pool", errors.New("closed pool"), "anon", 503, CodeDatabaseUnavailable, "", nil, nil},
		{"deadline", fmt.Errorf("q: %w", context.DeadlineExceeded), "anon", 504, CodeDatabaseTimeout, "", nil, nil},
		{"canceled", context.Canceled, "anon", 503, CodeRequestCanceled, "", nil, nil},
		{"anything else", errors.New("scan: cannot convert"), "anon", 500, "internal_error", "", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ErrorFromRole(c.err, c.role)
			if got.Status != c.wantStatus || got.Code != c.wantCode {
				t.Fatalf("got %d %q, want %d %q", got.Status, got.Code, c.wantStatus, c.wantCode)
			}
			if c.wantMessage != "" && got.Message != c.wantMessage {
				t.Errorf("message %q, want %q", got.Message, c.wantMessage)
			}
			if got.Details != c.wantDetails {
				t.Errorf("details %#v, want %#v", got.Details, c.wantDetails)
			}
			if got.Hint != c.wantHint && c.wantCode != CodeDatabaseUnavailable {
				t.Errorf("hint %#v, want %#v", got.Hint, c.wantHint)
			}
			if c.wantCode != "teapot" && !errors.Is(got, c.err) {
				t.Errorf("the cause is not kept: %v", got)
			}
		})
	}
	if ErrorFrom(nil) != nil {
		t.Fatal("ErrorFrom(nil) must be nil")
	}
	if got := ErrorFrom(denied); got.Status != 403 {
		t.Fatalf("ErrorFrom assumes an authenticated caller, got %d", got.Status)
	}
}

func TestIsConnectionError(t *testing.T) {
	yes := []error{
		&pgconn.PgError{Code: "57P01"}, &pgconn.PgError{Code: "57P03"}, &pgconn.PgError{Code: "08006"},
		io.EOF, syscall.ECONNRESET, fmt.Errorf("w: %w", syscall.EPIPE), net.ErrClosed,
	}
	no := []error{
		nil, &pgconn.PgError{Code: "23505"}, &pgconn.PgError{Code: "57014"}, &pgconn.PgError{Code: "28P01"},
		context.Canceled, context.DeadlineExceeded, errors.New("boom"),
	}
	for _, e := range yes {
		if !IsConnectionError(e) {
			t.Errorf("IsConnectionError(%v) = false, want true", e)
		}
	}
	for _, e := range no {
		if IsConnectionError(e) {
			t.Errorf("IsConnectionError(%v) = true, want false", e)
		}
	}
}
