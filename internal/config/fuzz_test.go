package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadFile feeds arbitrary bytes as fluxbase.yaml: Load must never
// panic, and must either return a configuration that validates or an error
// that names what is wrong.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte("http:\n  addr: 127.0.0.1:8080\n"))
	f.Add([]byte("http:\n  addr: [\n"))
	f.Add([]byte("database:\n  max_conns: lots\n"))
	f.Add([]byte("http:\n  cors:\n    allowed_origins: [\"https://*.example.com\", \"*\"]\n"))
	f.Add([]byte("auth:\n  jwt:\n    secret: short\n    algorithm: HS256\n"))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Add([]byte("http: !!binary aGVsbG8=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fluxbase.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(LoadOptions{File: path})
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			var ce *Error
			if errors.As(err, &ce) {
				for _, p := range ce.Problems {
					if p.Message == "" {
						t.Fatalf("problem without a message: %+v", p)
					}
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a configuration that does not validate: %v", err)
		}
	})
}

// FuzzRedactDSN checks that no password survives redaction, whatever it
// contains.
func FuzzRedactDSN(f *testing.F) {
	f.Add("s3cr3t-pass", "db.internal:5432")
	f.Add("p@ss:w/rd?x=1", "localhost")
	f.Add("has space and 'quote'", "[::1]:5432")
	f.Fuzz(func(t *testing.T, password, host string) {
		if len(password) < 6 || strings.ContainsAny(host, "/?#@") {
			return
		}
		asURL := "postgres://app:" + url.QueryEscape(password) + "@" + host + "/app?sslmode=disable"
		if got := RedactDSN(asURL); strings.Contains(got, url.QueryEscape(password)) && !strings.Contains(asURL[len("postgres://app:")+len(url.QueryEscape(password)):], url.QueryEscape(password)) {
			t.Fatalf("password survives in URL form: %q -> %q", asURL, got)
		}
		quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(password)
		kv := "host=" + "h" + " user=app password='" + quoted + "' dbname=app"
		if got := RedactDSN(kv); strings.Contains(got, password) && !strings.Contains("host=h user=app dbname=app [redacted]", password) {
			t.Fatalf("password survives in key=value form: %q -> %q", kv, got)
		}
	})
}
