package storage

import (
	"mime"
	"net/http"
	"path"
	"strings"
)

// detectMimeType names the type of an object whose client sent none (or
// only application/octet-stream): the extension when it is known, the
// content (http.DetectContentType on the first 512 bytes) otherwise.
func detectMimeType(name string, head []byte) string {
	if ext := path.Ext(name); ext != "" {
		if t := mime.TypeByExtension(strings.ToLower(ext)); t != "" {
			return t
		}
	}
	if len(head) == 0 {
		return "application/octet-stream"
	}
	return http.DetectContentType(head)
}

// normalizeMimeType checks a client-given Content-Type and returns it
// without surrounding space; "" if it is not a media type.
func normalizeMimeType(ct string) string {
	ct = strings.TrimSpace(ct)
	if ct == "" || len(ct) > 255 {
		return ""
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mime.FormatMediaType(mt, params)
}

// mimeAllowed reports whether mimeType matches one of the bucket's allowed
// types; patterns may end in /* (image/*) or be */*. No list allows all.
func mimeAllowed(allowed []string, mimeType string) bool {
	if len(allowed) == 0 {
		return true
	}
	mt := strings.ToLower(mimeType)
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	typ, _, _ := strings.Cut(mt, "/")
	for _, p := range allowed {
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case p == "*/*" || p == "*":
			return true
		case strings.HasSuffix(p, "/*") && strings.TrimSuffix(p, "/*") == typ:
			return true
		case p == mt:
			return true
		}
	}
	return false
}

// contentDisposition renders a Content-Disposition header value with an
// ASCII fallback and the RFC 5987 UTF-8 form of filename.
func contentDisposition(kind, filename string) string {
	ascii := make([]rune, 0, len(filename))
	for _, r := range filename {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			r = '_'
		}
		ascii = append(ascii, r)
	}
	return kind + `; filename="` + string(ascii) + `"; filename*=UTF-8''` + pathEscapeRFC5987(filename)
}

func pathEscapeRFC5987(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
