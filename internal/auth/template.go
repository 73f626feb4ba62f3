package auth

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// templateKind names one of the editable emails. The names are those of
// GoTrue's GOTRUE_MAILER_TEMPLATES_* settings, so that templates written for
// Supabase carry over together with their variables.
type templateKind string

const (
	tmplConfirmation templateKind = "confirmation"
	tmplMagicLink    templateKind = "magic_link"
	tmplOTP          templateKind = "otp"
	tmplRecovery     templateKind = "recovery"
	tmplEmailChange  templateKind = "email_change"
	tmplInvite       templateKind = "invite"
)

// templateKinds is every kind, in the order the admin API lists them.
var templateKinds = []templateKind{tmplConfirmation, tmplMagicLink, tmplOTP, tmplRecovery, tmplEmailChange, tmplInvite}

func parseTemplateKind(s string) (templateKind, bool) {
	for _, k := range templateKinds {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// mailTemplate is one email: a subject and an HTML body, both Go templates,
// and an optional plain-text body (when empty the mail is HTML only).
type mailTemplate struct {
	Subject string `json:"subject"`
	HTML    string `json:"body_html"`
	Text    string `json:"body_text"`
}

// templateData is what templates can use. The field names are GoTrue's
// ({{ .ConfirmationURL }}, {{ .Token }}, {{ .TokenHash }}, {{ .SiteURL }},
// {{ .Email }}, {{ .NewEmail }}, {{ .RedirectTo }}, {{ .Data }}).
type templateData struct {
	SiteURL         string
	ConfirmationURL string
	Token           string
	TokenHash       string
	Email           string
	NewEmail        string
	RedirectTo      string
	Data            map[string]any
}

// renderedMail is a template applied to its data.
type renderedMail struct {
	Subject string
	HTML    string
	Text    string
}

// maxTemplateBytes bounds one template field: a template is an email body,
// and the limit keeps a careless paste from landing in every message.
const maxTemplateBytes = 64 << 10

// compile parses t, reporting the field that does not parse. The HTML body
// is an html/template, so values such as user metadata are escaped.
func (t mailTemplate) compile() (*texttemplate.Template, *htmltemplate.Template, *texttemplate.Template, error) {
	if strings.TrimSpace(t.Subject) == "" {
		return nil, nil, nil, fmt.Errorf("subject is empty")
	}
	if strings.TrimSpace(t.HTML) == "" {
		return nil, nil, nil, fmt.Errorf("body_html is empty")
	}
	for name, v := range map[string]string{"subject": t.Subject, "body_html": t.HTML, "body_text": t.Text} {
		if len(v) > maxTemplateBytes {
			return nil, nil, nil, fmt.Errorf("%s is longer than %d bytes", name, maxTemplateBytes)
		}
	}
	subj, err := texttemplate.New("subject").Option("missingkey=zero").Parse(t.Subject)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("subject: %w", err)
	}
	html, err := htmltemplate.New("body_html").Option("missingkey=zero").Parse(t.HTML)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("body_html: %w", err)
	}
	var text *texttemplate.Template
	if strings.TrimSpace(t.Text) != "" {
		text, err = texttemplate.New("body_text").Option("missingkey=zero").Parse(t.Text)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("body_text: %w", err)
		}
	}
	return subj, html, text, nil
}

// validate parses t and executes it once with sample data, so that a
// template that would fail at send time is refused when it is saved.
func (t mailTemplate) validate() error {
	_, err := t.render(templateData{
		SiteURL: "https://example.com", ConfirmationURL: "https://example.com/auth/v1/verify?token=x&type=signup",
		Token: "123456", TokenHash: "x", Email: "user@example.com", NewEmail: "new@example.com",
		RedirectTo: "https://example.com", Data: map[string]any{},
	})
	return err
}

// render applies t to d.
func (t mailTemplate) render(d templateData) (renderedMail, error) {
	subj, html, text, err := t.compile()
	if err != nil {
		return renderedMail{}, err
	}
	if d.Data == nil {
		d.Data = map[string]any{}
	}
	var out renderedMail
	var b bytes.Buffer
	if err := subj.Execute(&b, d); err != nil {
		return renderedMail{}, fmt.Errorf("subject: %w", err)
	}
	// A subject is one header line: a template must not be able to inject
	// further headers through a newline in the user's data.
	out.Subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := html.Execute(&b, d); err != nil {
		return renderedMail{}, fmt.Errorf("body_html: %w", err)
	}
	out.HTML = b.String()
	if text != nil {
		b.Reset()
		if err := text.Execute(&b, d); err != nil {
			return renderedMail{}, fmt.Errorf("body_text: %w", err)
		}
		out.Text = b.String()
	}
	return out, nil
}

// defaultTemplates are used for every kind not overridden in
// auth.email_templates. They give the link and the code together, so that
// the same email serves apps that verify by link and apps that ask for the
// code (auth-js verifyOtp).
var defaultTemplates = map[templateKind]mailTemplate{
	tmplConfirmation: {
		Subject: "Confirm your email address",
		HTML: `<h2>Confirm your email address</h2>
<p>Follow this link to confirm {{ .Email }}:</p>
<p><a href="{{ .ConfirmationURL }}">Confirm my email address</a></p>
<p>Or enter this code: <strong>{{ .Token }}</strong></p>
<p>If you did not sign up, ignore this email.</p>`,
		Text: `Confirm your email address

Follow this link to confirm {{ .Email }}:
{{ .ConfirmationURL }}

Or enter this code: {{ .Token }}

If you did not sign up, ignore this email.
`,
	},
	tmplMagicLink: {
		Subject: "Your sign-in link",
		HTML: `<h2>Sign in</h2>
<p>Follow this link to sign in as {{ .Email }}:</p>
<p><a href="{{ .ConfirmationURL }}">Sign in</a></p>
<p>Or enter this code: <strong>{{ .Token }}</strong></p>
<p>If you did not ask to sign in, ignore this email.</p>`,
		Text: `Sign in

Follow this link to sign in as {{ .Email }}:
{{ .ConfirmationURL }}

Or enter this code: {{ .Token }}

If you did not ask to sign in, ignore this email.
`,
	},
	tmplOTP: {
		Subject: "Your sign-in code: {{ .Token }}",
		HTML: `<h2>Your sign-in code</h2>
<p>Enter this code to sign in as {{ .Email }}:</p>
<p><strong style="font-size:1.5em;letter-spacing:0.2em">{{ .Token }}</strong></p>
<p>If you did not ask for a code, ignore this email.</p>`,
		Text: `Your sign-in code

Enter this code to sign in as {{ .Email }}:

{{ .Token }}

If you did not ask for a code, ignore this email.
`,
	},
	tmplRecovery: {
		Subject: "Reset your password",
		HTML: `<h2>Reset your password</h2>
<p>Follow this link to choose a new password for {{ .Email }}:</p>
<p><a href="{{ .ConfirmationURL }}">Reset my password</a></p>
<p>Or enter this code: <strong>{{ .Token }}</strong></p>
<p>If you did not ask for this, ignore this email: your password is unchanged.</p>`,
		Text: `Reset your password

Follow this link to choose a new password for {{ .Email }}:
{{ .ConfirmationURL }}

Or enter this code: {{ .Token }}

If you did not ask for this, ignore this email: your password is unchanged.
`,
	},
	tmplEmailChange: {
		Subject: "Confirm your new email address",
		HTML: `<h2>Confirm your new email address</h2>
<p>Follow this link to change your email address from {{ .Email }} to {{ .NewEmail }}:</p>
<p><a href="{{ .ConfirmationURL }}">Change my email address</a></p>
<p>Or enter this code: <strong>{{ .Token }}</strong></p>
<p>If you did not ask for this, ignore this email.</p>`,
		Text: `Confirm your new email address

Follow this link to change your email address from {{ .Email }} to {{ .NewEmail }}:
{{ .ConfirmationURL }}

Or enter this code: {{ .Token }}

If you did not ask for this, ignore this email.
`,
	},
	tmplInvite: {
		Subject: "You have been invited",
		HTML: `<h2>You have been invited</h2>
<p>You have been invited to create an account at {{ .SiteURL }} as {{ .Email }}.</p>
<p><a href="{{ .ConfirmationURL }}">Accept the invitation</a></p>`,
		Text: `You have been invited

You have been invited to create an account at {{ .SiteURL }} as {{ .Email }}.
Accept the invitation:
{{ .ConfirmationURL }}
`,
	},
}
