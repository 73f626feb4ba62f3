package testservers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Mailpit is a running mailpit: an SMTP server on SMTPHost:SMTPPort
// (plain, any credentials accepted) whose mail is read back through its
// HTTP API at APIURL.
type Mailpit struct {
	SMTPHost string
	SMTPPort int
	APIURL   string
}

// MailMessage is one received email as mailpit parsed it.
type MailMessage struct {
	ID      string
	From    MailAddress
	To      []MailAddress
	Subject string
	Text    string
	HTML    string
}

// MailAddress is an address with its display name.
type MailAddress struct {
	Name    string
	Address string
}

// StartMailpit starts mailpit from bin/tools on free loopback ports, with
// its store in the test's temporary directory, and stops it when the test
// ends.
func StartMailpit(t testing.TB) *Mailpit {
	t.Helper()
	bin := ToolPath(t, "mailpit")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		smtpPort, httpPort := FreePort(t), FreePort(t)
		p := startProcess(t, bin, []string{
			"--smtp", hostPort(smtpPort),
			"--listen", hostPort(httpPort),
			"--database", filepath.Join(t.TempDir(), "mailpit.db"),
			"--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
			"--smtp-disable-rdns", "--disable-version-check", "--quiet",
		}, nil)
		api := "http://" + hostPort(httpPort)
		if lastErr = p.waitHTTP(api+"/api/v1/info", 15*time.Second); lastErr == nil {
			return &Mailpit{SMTPHost: "127.0.0.1", SMTPPort: smtpPort, APIURL: api}
		}
	}
	t.Fatalf("mailpit did not start: %v", lastErr)
	return nil
}

type mailpitSummary struct {
	Messages []struct {
		ID      string
		Created time.Time
	} `json:"messages"`
}

// Search returns the messages addressed to the given address, newest
// first.
func (m *Mailpit) Search(ctx context.Context, to string) ([]MailMessage, error) {
	var sum mailpitSummary
	q := url.Values{"query": {`to:"` + to + `"`}}
	if err := m.getJSON(ctx, "/api/v1/search?"+q.Encode(), &sum); err != nil {
		return nil, err
	}
	out := make([]MailMessage, 0, len(sum.Messages))
	for _, s := range sum.Messages {
		var msg MailMessage
		if err := m.getJSON(ctx, "/api/v1/message/"+url.PathEscape(s.ID), &msg); err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	return out, nil
}

// Count returns how many messages were sent to the address.
func (m *Mailpit) Count(t testing.TB, to string) int {
	t.Helper()
	msgs, err := m.Search(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

// WaitForCount waits until n messages have reached the address and
// returns them, newest first. Fluxbase answers a request before its mail
// is sent (the outbox worker sends it a moment later), and mailpit stores
// a message a moment after accepting it.
func (m *Mailpit) WaitForCount(t testing.TB, to string, n int) []MailMessage {
	t.Helper()
	return m.poll(t, to, fmt.Sprintf("%d message(s)", n), func(msgs []MailMessage) bool { return len(msgs) >= n })
}

// WaitForOther waits for a message to the address whose text differs from
// that of every message in seen, and returns the newest such message.
// Delivery is at least once, so a message can arrive twice; a new mail
// carries a new code or link, a second delivery of an old one does not.
func (m *Mailpit) WaitForOther(t testing.TB, to string, seen []MailMessage) MailMessage {
	t.Helper()
	unseen := func(msg MailMessage) bool {
		return !slices.ContainsFunc(seen, func(s MailMessage) bool { return s.Text == msg.Text })
	}
	msgs := m.poll(t, to, "a new message", func(msgs []MailMessage) bool { return slices.ContainsFunc(msgs, unseen) })
	return msgs[slices.IndexFunc(msgs, unseen)]
}

// poll searches the messages to the address, newest first, every 25 ms
// until done accepts them, and fails the test after 10 s.
func (m *Mailpit) poll(t testing.TB, to, want string, done func([]MailMessage) bool) []MailMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := m.Search(context.Background(), to)
		if err != nil {
			t.Fatal(err)
		}
		if done(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: %d message(s) to %s after 10s, want %s", len(msgs), to, want)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Latest waits for a first message to the address and returns the newest.
func (m *Mailpit) Latest(t testing.TB, to string) MailMessage {
	t.Helper()
	return m.WaitForCount(t, to, 1)[0]
}

func (m *Mailpit) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.APIURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Env returns FLUXBASE_AUTH_SMTP_* variables pointing a Fluxbase binary at
// this server.
func (m *Mailpit) Env(from string) map[string]string {
	return map[string]string{
		"FLUXBASE_AUTH_SMTP_HOST": m.SMTPHost,
		"FLUXBASE_AUTH_SMTP_PORT": strconv.Itoa(m.SMTPPort),
		"FLUXBASE_AUTH_SMTP_FROM": from,
		"FLUXBASE_AUTH_SMTP_TLS":  "none",
	}
}

// Code extracts the first run of digits of the given length from the text
// body: the one-time code in Fluxbase's default templates.
func Code(text string, length int) string {
	run := 0
	for i, c := range text {
		if c >= '0' && c <= '9' {
			run++
			continue
		}
		if run == length {
			return text[i-run : i]
		}
		run = 0
	}
	if run == length {
		return text[len(text)-run:]
	}
	return ""
}

// Link extracts the first URL of the text body that starts with prefix.
func Link(text, prefix string) string {
	i := strings.Index(text, prefix)
	if i < 0 {
		return ""
	}
	end := strings.IndexAny(text[i:], " \r\n\t\"<>")
	if end < 0 {
		return text[i:]
	}
	return text[i : i+end]
}
