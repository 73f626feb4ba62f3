package testservers

import (
	"context"
	"fmt"
	"net/smtp"
	"testing"
)

func TestMailpitReceivesMail(t *testing.T) {
	m := StartMailpit(t)
	body := "Subject: hello\r\nTo: someone@example.com\r\n\r\nYour code: 482913\r\nhttp://x.test/verify?token=a&type=b\r\n"
	err := smtp.SendMail(fmt.Sprintf("%s:%d", m.SMTPHost, m.SMTPPort), nil, "from@example.com", []string{"someone@example.com"}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	msg := m.Latest(t, "someone@example.com")
	if msg.Subject != "hello" {
		t.Fatalf("subject %q", msg.Subject)
	}
	if got := Code(msg.Text, 6); got != "482913" {
		t.Fatalf("code %q in %q", got, msg.Text)
	}
	if got := Link(msg.Text, "http://x.test/"); got != "http://x.test/verify?token=a&type=b" {
		t.Fatalf("link %q", got)
	}
	if others, err := m.Search(context.Background(), "other@example.com"); err != nil || len(others) != 0 {
		t.Fatalf("search for another address: %v, %d", err, len(others))
	}
}
