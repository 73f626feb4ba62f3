package auth

import (
	"strings"
	"testing"
)

func TestDefaultTemplatesRender(t *testing.T) {
	for _, k := range templateKinds {
		tmpl, ok := defaultTemplates[k]
		if !ok {
			t.Fatalf("no default template for %s", k)
		}
		if err := tmpl.validate(); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		out, err := tmpl.render(templateData{
			SiteURL: "https://app.example", ConfirmationURL: "https://api.example/auth/v1/verify?token=abc&type=x",
			Token: "493817", Email: "a@example.com", NewEmail: "b@example.com",
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.HTML, "https://api.example/auth/v1/verify?token=abc&amp;type=x") && k != tmplOTP {
			t.Fatalf("%s: HTML lacks the link:\n%s", k, out.HTML)
		}
		if k != tmplInvite && !strings.Contains(out.Text, "493817") {
			t.Fatalf("%s: text lacks the code:\n%s", k, out.Text)
		}
	}
}

func TestTemplateEscapesAndRefusesHeaderInjection(t *testing.T) {
	tmpl := mailTemplate{
		Subject: "Hello {{ .Data.name }}",
		HTML:    "<p>{{ .Data.name }}</p>",
	}
	out, err := tmpl.render(templateData{Data: map[string]any{"name": "<script>x</script>\r\nBcc: victim@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.Subject, "\r\n") {
		t.Fatalf("subject keeps a line break: %q", out.Subject)
	}
	if strings.Contains(out.HTML, "<script>") {
		t.Fatalf("HTML not escaped: %s", out.HTML)
	}
	if out.Text != "" {
		t.Fatalf("text body rendered without a text template: %q", out.Text)
	}
}

func TestTemplateValidate(t *testing.T) {
	bad := []mailTemplate{
		{Subject: "", HTML: "x"},
		{Subject: "x", HTML: ""},
		{Subject: "{{ .Nope", HTML: "x"},
		{Subject: "x", HTML: "{{ if }}"},
		{Subject: "x", HTML: "x", Text: "{{ end }}"},
		{Subject: "x", HTML: "{{ .Unknown.Field }}"},
		{Subject: "x", HTML: strings.Repeat("a", maxTemplateBytes+1)},
	}
	for i, b := range bad {
		if err := b.validate(); err == nil {
			t.Errorf("case %d: invalid template accepted", i)
		}
	}
	if _, ok := parseTemplateKind("magic_link"); !ok {
		t.Fatal("magic_link not a kind")
	}
	if _, ok := parseTemplateKind("reauth"); ok {
		t.Fatal("unknown kind accepted")
	}
}
