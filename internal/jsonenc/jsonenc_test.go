package jsonenc

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendStringIsJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and backslash \`, "tab\tnewline\ncr\r", "\x00\x01\x1f\x7f",
		"unicode é 日本 🙂", "line\u2028para\u2029", "bad \xff utf-8 \xc3", strings.Repeat("x", 300) + "\"",
	} {
		out := AppendString([]byte("prefix:"), s)
		if !strings.HasPrefix(string(out), "prefix:") {
			t.Fatalf("%q: prefix lost: %q", s, out)
		}
		var got string
		if err := json.Unmarshal(out[len("prefix:"):], &got); err != nil {
			t.Fatalf("%q: not a JSON string: %q: %v", s, out, err)
		}
		// encoding/json replaces invalid UTF-8 with U+FFFD too.
		want, _ := json.Marshal(s)
		var wantS string
		_ = json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Errorf("%q: decodes to %q, want %q", s, got, wantS)
		}
		if strings.ContainsAny(string(out), "\u2028\u2029") {
			t.Errorf("%q: U+2028/U+2029 left unescaped: %q", s, out)
		}
	}
}
