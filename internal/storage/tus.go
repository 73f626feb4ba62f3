package storage

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// The TUS 1.0.0 resumable upload protocol (https://tus.io/protocols/resumable-upload):
// core (HEAD, PATCH, OPTIONS) and the creation, creation-with-upload,
// creation-defer-length, termination and expiration extensions.
const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,creation-defer-length,termination,expiration"
	tusPatchType  = "application/offset+octet-stream"
	// tusMaxMetadata bounds the Upload-Metadata header.
	tusMaxMetadata = 16 << 10
)

// tusError is a TUS protocol error. Status codes follow the protocol (412
// for a version mismatch, 409 for an offset mismatch, 415 for a PATCH that
// is not application/offset+octet-stream, 410 for an expired upload).
func tusError(status int, code, format string, args ...any) *httpx.Error {
	return httpx.Errorf(status, code, format, args...)
}

// tusHeaders are the parsed protocol headers of one request.
type tusHeaders struct {
	// Length is Upload-Length, or -1 when absent.
	Length int64
	// DeferLength is Upload-Defer-Length: 1.
	DeferLength bool
	// Offset is Upload-Offset, or -1 when absent.
	Offset int64
	// Metadata is the decoded Upload-Metadata.
	Metadata map[string]string
}

// checkTusResumable enforces the Tus-Resumable header every request but
// OPTIONS must carry.
func checkTusResumable(r *http.Request) error {
	v := strings.TrimSpace(r.Header.Get("Tus-Resumable"))
	if v == tusVersion {
		return nil
	}
	if v == "" {
		return tusError(http.StatusPreconditionFailed, "tus_version_missing",
			"the Tus-Resumable header is required; this server speaks TUS %s", tusVersion)
	}
	return tusError(http.StatusPreconditionFailed, "tus_version_unsupported",
		"TUS version %q is not supported; this server speaks TUS %s", v, tusVersion)
}

// parseTusUint parses a non-negative decimal header value: digits only, no
// sign, no spaces, at most 18 digits (so it fits an int64).
func parseTusUint(name, v string) (int64, error) {
	if v == "" || len(v) > 18 {
		return 0, tusError(http.StatusBadRequest, "invalid_"+strings.ToLower(strings.ReplaceAll(name, "-", "_")),
			"%s must be a non-negative whole number of bytes, not %q", name, v)
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, tusError(http.StatusBadRequest, "invalid_"+strings.ToLower(strings.ReplaceAll(name, "-", "_")),
				"%s must be a non-negative whole number of bytes, not %q", name, v)
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, tusError(http.StatusBadRequest, "invalid_"+strings.ToLower(strings.ReplaceAll(name, "-", "_")),
			"%s must be a non-negative whole number of bytes, not %q", name, v)
	}
	return n, nil
}

// parseTusHeaders reads Upload-Length, Upload-Defer-Length, Upload-Offset
// and Upload-Metadata; absent headers are left unset (-1, false, nil).
func parseTusHeaders(h http.Header) (tusHeaders, error) {
	th := tusHeaders{Length: -1, Offset: -1}
	if vs := h.Values("Upload-Length"); len(vs) > 0 {
		if len(vs) > 1 {
			return th, tusError(http.StatusBadRequest, "invalid_upload_length", "Upload-Length must be given once")
		}
		n, err := parseTusUint("Upload-Length", strings.TrimSpace(vs[0]))
		if err != nil {
			return th, err
		}
		th.Length = n
	}
	if vs := h.Values("Upload-Defer-Length"); len(vs) > 0 {
		if len(vs) > 1 || strings.TrimSpace(vs[0]) != "1" {
			return th, tusError(http.StatusBadRequest, "invalid_upload_defer_length", "Upload-Defer-Length must be 1")
		}
		th.DeferLength = true
	}
	if vs := h.Values("Upload-Offset"); len(vs) > 0 {
		if len(vs) > 1 {
			return th, tusError(http.StatusBadRequest, "invalid_upload_offset", "Upload-Offset must be given once")
		}
		n, err := parseTusUint("Upload-Offset", strings.TrimSpace(vs[0]))
		if err != nil {
			return th, err
		}
		th.Offset = n
	}
	if vs := h.Values("Upload-Metadata"); len(vs) > 0 {
		md, err := parseUploadMetadata(strings.Join(vs, ","))
		if err != nil {
			return th, err
		}
		th.Metadata = md
	}
	return th, nil
}

// parseUploadMetadata decodes an Upload-Metadata header: comma-separated
// pairs of a key and its base64-encoded value, separated by a space; a key
// may stand alone (empty value). Keys are unique, non-empty and free of
// spaces and commas.
func parseUploadMetadata(v string) (map[string]string, error) {
	bad := func(format string, args ...any) error {
		return tusError(http.StatusBadRequest, "invalid_upload_metadata", "Upload-Metadata: "+format, args...)
	}
	if len(v) > tusMaxMetadata {
		return nil, bad("longer than %d bytes", tusMaxMetadata)
	}
	md := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return md, nil
	}
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		key, enc, hasValue := strings.Cut(pair, " ")
		if key == "" {
			return nil, bad("an empty key")
		}
		for _, c := range key {
			if c <= ' ' || c >= 0x7f {
				return nil, bad("key %q has characters other than printable ASCII", key)
			}
		}
		if _, dup := md[key]; dup {
			return nil, bad("key %q is given twice", key)
		}
		var val []byte
		if hasValue {
			enc = strings.TrimSpace(enc)
			var err error
			val, err = base64.StdEncoding.DecodeString(enc)
			if err != nil {
				// Some clients leave the padding out.
				val, err = base64.RawStdEncoding.DecodeString(enc)
			}
			if err != nil {
				return nil, bad("the value of %q is not base64", key)
			}
		}
		md[key] = string(val)
	}
	return md, nil
}

// checkPatchContentType enforces the media type of PATCH bodies (and of
// creation-with-upload bodies).
func checkPatchContentType(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != tusPatchType {
		return tusError(http.StatusUnsupportedMediaType, "invalid_content_type",
			"the body of an upload request must be sent as %s", tusPatchType)
	}
	return nil
}

// tusMethod returns the request's method, honouring
// X-HTTP-Method-Override, which the protocol allows for environments that
// cannot send PATCH or DELETE.
func tusMethod(r *http.Request) string {
	if o := strings.ToUpper(strings.TrimSpace(r.Header.Get("X-HTTP-Method-Override"))); o != "" && r.Method == http.MethodPost {
		return o
	}
	return r.Method
}

// formatUploadExpires formats Upload-Expires as the protocol requires (an
// HTTP date).
func formatUploadExpires(t time.Time) string {
	return t.UTC().Format(http.TimeFormat)
}

// encodeUploadMetadata is the inverse of parseUploadMetadata, for HEAD
// answers; keys are sorted so the header is stable.
func encodeUploadMetadata(md map[string]string) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if md[k] == "" {
			parts = append(parts, k)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", k, base64.StdEncoding.EncodeToString([]byte(md[k]))))
	}
	return strings.Join(parts, ",")
}
