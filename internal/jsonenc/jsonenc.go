// Package jsonenc appends JSON strings to byte slices without the
// reflection and allocations of encoding/json, for the lines and documents
// written on every request (the access log line, request.headers).
//
// It is a leaf: it imports only the standard library.
package jsonenc

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// plain marks the bytes that are copied as they are: printable ASCII but
// the quote and the backslash. Bytes of multi-byte UTF-8 sequences are
// not plain; they are decoded and checked.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendString appends s as a quoted JSON string, escaped as log/slog's
// JSON handler escapes it: quotes, backslashes and control characters;
// invalid UTF-8 as U+FFFD (as encoding/json does); and U+2028 and U+2029,
// which break JavaScript that evaluates the text. The result is always
// valid JSON (and jsonb).
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Most strings are plain ASCII throughout: one table lookup a byte.
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
