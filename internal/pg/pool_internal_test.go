package pg

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/config"
)

func TestSizesFor(t *testing.T) {
	def := sizesFor(config.DatabaseConfig{})
	total := min(max(10, 4*int32(runtime.GOMAXPROCS(0))), 40)
	if def.apiMax+def.adminMax != total {
		t.Fatalf("default budget %d+%d, want %d", def.apiMax, def.adminMax, total)
	}
	if def.apiMin != 0 || def.adminMin != 0 {
		t.Fatalf("no warm connections unless configured: %+v", def)
	}
	s := sizesFor(config.DatabaseConfig{MaxConns: 30, MinConns: 50})
	if s.apiMax != 20 || s.adminMax != 10 || s.apiMin != 20 || s.adminMin != 1 {
		t.Fatalf("sizes for 30 conns: %+v", s)
	}
	tiny := sizesFor(config.DatabaseConfig{MaxConns: 1})
	if tiny.apiMax < 2 || tiny.adminMax < 2 {
		t.Fatalf("each pool needs at least 2 connections: %+v", tiny)
	}
}

// TestScramVerifier checks the verifier against RFC 7677's definition by
// recomputing StoredKey and ServerKey from the salt it chose.
func TestScramVerifier(t *testing.T) {
	v, err := scramVerifier("pencil")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$`).FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("malformed verifier %q", v)
	}
	dec := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	salted, _ := pbkdf2.Key(sha256.New, "pencil", dec(m[1]), 4096, 32)
	h := hmac.New(sha256.New, salted)
	h.Write([]byte("Client Key"))
	stored := sha256.Sum256(h.Sum(nil))
	h = hmac.New(sha256.New, salted)
	h.Write([]byte("Server Key"))
	if !hmac.Equal(stored[:], dec(m[2])) || !hmac.Equal(h.Sum(nil), dec(m[3])) {
		t.Fatal("verifier keys do not match the password")
	}
	if v2, _ := scramVerifier("pencil"); v2 == v {
		t.Fatal("each verifier must use a fresh salt")
	}
}

func TestParseConfigErrorNeverEchoesPassword(t *testing.T) {
	dsns := []string{
		"postgres://alice:s3cr3tpw@db.example.com:notaport/app",
		"postgres://alice:s3cr3tpw@[::1/app",
		"host=db password=s3cr3tpw port=abc",
		"postgres://alice:s3cr3tpw@db.example.com/app?sslmode=bogus",
		"postgres://alice:s3cr3tpw@db.example.com/app?connect_timeout=x",
	}
	for _, dsn := range dsns {
		_, err := Connect(context.Background(), config.DatabaseConfig{URL: dsn}, dsn, nil)
		if err == nil {
			t.Fatalf("%q: expected an error", dsn)
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cr3tpw") {
			t.Errorf("%q: error leaks the password: %s", dsn, msg)
		}
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "invalid PostgreSQL connection string: ") ||
			!strings.Contains(msg, "DATABASE_URL") {
			t.Errorf("%q: not one clear line: %q", dsn, msg)
		}
		var ce *ConnectError
		if !errors.As(err, &ce) {
			t.Errorf("%q: not a *ConnectError", dsn)
		}
	}
}

func TestScrubPassword(t *testing.T) {
	if got := scrubPassword("postgres://u:p%40ss@h/db", "bad p@ss and p%40ss"); strings.Contains(got, "p@ss") || strings.Contains(got, "p%40ss") {
		t.Fatalf("not scrubbed: %s", got)
	}
	if got := scrubPassword("host=h password='a b'", "x a b y"); strings.Contains(got, "a b") {
		t.Fatalf("not scrubbed: %s", got)
	}
}
