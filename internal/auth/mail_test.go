package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

func TestSMTPSender(t *testing.T) {
	mp := testservers.StartMailpit(t)
	for _, c := range []struct {
		name string
		cfg  config.SMTPConfig
	}{
		{"no auth", config.SMTPConfig{Host: mp.SMTPHost, Port: mp.SMTPPort, From: "no-reply@example.com", SenderName: "Acme", TLS: "none"}},
		{"auth without TLS", config.SMTPConfig{Host: mp.SMTPHost, Port: mp.SMTPPort, User: "u", Password: "p", From: "Acme Team <team@example.com>", TLS: "none"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := newSMTPSender(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			to := strings.ReplaceAll(c.name, " ", "-")
			to = strings.NewReplacer(",", "").Replace(to) + "@example.com"
			err = s.Send(context.Background(), mailMessage{To: to, Subject: "Hello", HTML: "<p>Hi <b>there</b></p>", Text: "Hi there"})
			if err != nil {
				t.Fatal(err)
			}
			m := mp.Latest(t, to)
			if m.Subject != "Hello" || !strings.Contains(m.HTML, "<b>there</b>") || strings.TrimSpace(m.Text) != "Hi there" {
				t.Fatalf("received %+v", m)
			}
			if m.From.Name != "Acme" && m.From.Name != "Acme Team" {
				t.Fatalf("from %+v", m.From)
			}
		})
	}
	// With auto, a server without STARTTLS never sees the password.
	auto, err := newSMTPSender(config.SMTPConfig{Host: mp.SMTPHost, Port: mp.SMTPPort, User: "u", Password: "p", From: "a@example.com", TLS: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	if err := auto.Send(context.Background(), mailMessage{To: "never@example.com", Subject: "s", HTML: "h"}); err == nil {
		t.Fatal("credentials were sent over an unencrypted connection")
	}
	if _, err := newSMTPSender(config.SMTPConfig{}); err != errMailNotConfigured {
		t.Fatalf("no host: %v", err)
	}
	if _, err := newSMTPSender(config.SMTPConfig{Host: "h", From: "not an address"}); err == nil {
		t.Fatal("a bad from address was accepted")
	}
	// A server that is not there fails the send, in bounded time.
	s, err := newSMTPSender(config.SMTPConfig{Host: "127.0.0.1", Port: testservers.FreePort(t), From: "a@example.com", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), mailMessage{To: "x@example.com", Subject: "s", HTML: "h"}); err == nil {
		t.Fatal("sending to a closed port succeeded")
	}
}
