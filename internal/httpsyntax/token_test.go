package httpsyntax_test

import (
	"testing"

	"github.com/fluxbase/fluxbase/internal/httpsyntax"
)

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{
		"GET":              true,
		"X-Request-ID":     true,
		"x-custom_header":  true,
		"!#$%&'*+-.^_`|~9": true,
		"":                 false,
		"Content Type":     false,
		"Accept:":          false,
		"(comment)":        false,
		"a,b":              false,
		"quote\"":          false,
		"tab\t":            false,
		"é":                false,
		"*":                true,
	} {
		if got := httpsyntax.IsToken(s); got != want {
			t.Errorf("IsToken(%q) = %v, want %v", s, got, want)
		}
	}
}
