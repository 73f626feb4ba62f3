package storage

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseUploadMetadata(t *testing.T) {
	md, err := parseUploadMetadata("bucketName YXZhdGFycw==,objectName Zm9sZGVyL2NhdC5wbmc=, contentType aW1hZ2UvcG5n,empty,cacheControl MzYwMA")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"bucketName":   "avatars",
		"objectName":   "folder/cat.png",
		"contentType":  "image/png",
		"empty":        "",
		"cacheControl": "3600",
	}, md)

	md, err = parseUploadMetadata("")
	require.NoError(t, err)
	assert.Empty(t, md)

	for _, bad := range []string{
		"a YQ==,a Yg==",   // duplicate key
		"a YQ==, ,b Yg==", // empty key
		"k not*base64",    // bad value
		",",               // empty pair
		"k\x01ey YQ==",    // control character in a key
		"kéy YQ==",        // non-ASCII key
		strings.Repeat("k", tusMaxMetadata+1),
	} {
		_, err := parseUploadMetadata(bad)
		require.Error(t, err, "%q", bad)
		status, code := errorStatus(t, err)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_upload_metadata", code)
	}
}

func TestUploadMetadataRoundTrip(t *testing.T) {
	in := map[string]string{"bucketName": "b", "objectName": "ünïcode/ and, commas", "flag": ""}
	out, err := parseUploadMetadata(encodeUploadMetadata(in))
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

func FuzzParseUploadMetadata(f *testing.F) {
	for _, s := range []string{"", "a YQ==", "bucketName YXZhdGFycw==,objectName eA", "k", "a b,c", "a YQ==,a YQ==", ", ,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		md, err := parseUploadMetadata(s)
		if err != nil {
			return
		}
		again, err := parseUploadMetadata(encodeUploadMetadata(md))
		if err != nil {
			t.Fatalf("re-parsing the encoding of %q: %v", s, err)
		}
		if len(again) != len(md) {
			t.Fatalf("round trip of %q changed %v into %v", s, md, again)
		}
		for k, v := range md {
			if again[k] != v {
				t.Fatalf("round trip of %q changed %q: %q into %q", s, k, v, again[k])
			}
		}
	})
}

func TestParseTusHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Upload-Length", "1048576")
	h.Set("Upload-Offset", "0")
	h.Set("Upload-Metadata", "objectName eA==")
	th, err := parseTusHeaders(h)
	require.NoError(t, err)
	assert.Equal(t, int64(1048576), th.Length)
	assert.Equal(t, int64(0), th.Offset)
	assert.Equal(t, map[string]string{"objectName": "x"}, th.Metadata)
	assert.False(t, th.DeferLength)

	th, err = parseTusHeaders(http.Header{"Upload-Defer-Length": {"1"}})
	require.NoError(t, err)
	assert.True(t, th.DeferLength)
	assert.Equal(t, int64(-1), th.Length)
	assert.Equal(t, int64(-1), th.Offset)

	for _, bad := range []http.Header{
		{"Upload-Length": {"-1"}},
		{"Upload-Length": {"+5"}},
		{"Upload-Length": {"1e3"}},
		{"Upload-Length": {"0x10"}},
		{"Upload-Length": {""}},
		{"Upload-Length": {"99999999999999999999"}},
		{"Upload-Length": {"1", "2"}},
		{"Upload-Offset": {"abc"}},
		{"Upload-Offset": {"1", "1"}},
		{"Upload-Defer-Length": {"0"}},
		{"Upload-Defer-Length": {"yes"}},
	} {
		_, err := parseTusHeaders(bad)
		require.Error(t, err, "%v", bad)
		status, _ := errorStatus(t, err)
		assert.Equal(t, http.StatusBadRequest, status, "%v", bad)
	}
}

func TestCheckTusResumable(t *testing.T) {
	r := httptest.NewRequest(http.MethodHead, "/x", nil)
	err := checkTusResumable(r)
	status, code := errorStatus(t, err)
	assert.Equal(t, http.StatusPreconditionFailed, status)
	assert.Equal(t, "tus_version_missing", code)

	r.Header.Set("Tus-Resumable", "0.2.2")
	_, code = errorStatus(t, checkTusResumable(r))
	assert.Equal(t, "tus_version_unsupported", code)

	r.Header.Set("Tus-Resumable", "1.0.0")
	assert.NoError(t, checkTusResumable(r))
}

func TestCheckPatchContentType(t *testing.T) {
	r := httptest.NewRequest(http.MethodPatch, "/x", nil)
	status, _ := errorStatus(t, checkPatchContentType(r))
	assert.Equal(t, http.StatusUnsupportedMediaType, status)
	r.Header.Set("Content-Type", "application/octet-stream")
	status, _ = errorStatus(t, checkPatchContentType(r))
	assert.Equal(t, http.StatusUnsupportedMediaType, status)
	r.Header.Set("Content-Type", "application/offset+octet-stream")
	assert.NoError(t, checkPatchContentType(r))
	r.Header.Set("Content-Type", "Application/Offset+Octet-Stream; charset=binary")
	assert.NoError(t, checkPatchContentType(r))
}

func TestTusMethodOverride(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/x", nil)
	assert.Equal(t, http.MethodPost, tusMethod(r))
	r.Header.Set("X-HTTP-Method-Override", "patch")
	assert.Equal(t, http.MethodPatch, tusMethod(r))
	// Only POST may be overridden.
	g := httptest.NewRequest(http.MethodGet, "/x", nil)
	g.Header.Set("X-HTTP-Method-Override", "DELETE")
	assert.Equal(t, http.MethodGet, tusMethod(g))
}
