package auth

import (
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

func TestTOTPEnrollAndCheck(t *testing.T) {
	e, err := newTOTP("Example App", "user@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(e.URI)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("URI %q is not an otpauth TOTP URI", e.URI)
	}
	q := u.Query()
	if q.Get("secret") != e.Secret || q.Get("issuer") != "Example App" {
		t.Fatalf("URI %q does not carry the secret and issuer", e.URI)
	}
	if u.Path != "/Example App:user@example.com" {
		t.Fatalf("URI label = %q", u.Path)
	}

	now := time.Unix(1_700_000_015, 0)
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		code, err := totp.GenerateCodeCustom(e.Secret, now.Add(d), opts)
		if err != nil {
			t.Fatal(err)
		}
		step, ok := totpCheck(e.Secret, code, now)
		if !ok {
			t.Fatalf("code of offset %s refused", d)
		}
		if want := now.Add(d).Unix() / 30; step != want {
			t.Fatalf("offset %s: step = %d, want %d", d, step, want)
		}
	}
	old, _ := totp.GenerateCodeCustom(e.Secret, now.Add(-90*time.Second), opts)
	if _, ok := totpCheck(e.Secret, old, now); ok {
		t.Fatal("a code three periods old was accepted")
	}
	for _, bad := range []string{"", "12345", "1234567", "12a456", "１２３４５６"} {
		if _, ok := totpCheck(e.Secret, bad, now); ok {
			t.Fatalf("malformed code %q accepted", bad)
		}
	}
	other, _ := newTOTP("Example App", "user@example.com")
	if other.Secret == e.Secret {
		t.Fatal("two enrollments got the same secret")
	}
}
