package storage

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// signingKeySecret names the URL signing key in fluxbase.secrets.
const signingKeySecret = "storage_url_signing_key"

// Token kinds: a token signed for downloads cannot be used to upload.
const (
	tokenDownload = "download"
	tokenUpload   = "upload"
)

// urlToken is what a signed URL grants: one kind of access to one object
// until Expires. Owner and Upsert apply to uploads.
type urlToken struct {
	Kind    string `json:"k"`
	Bucket  string `json:"b"`
	Name    string `json:"n"`
	Expires int64  `json:"e"`
	Owner   string `json:"o,omitempty"`
	Upsert  bool   `json:"u,omitempty"`
	// Transform, on a download token, is the image transformation the
	// token was signed for, in its canonical query form (see
	// TransformOptions.Query): such a token opens only that rendering.
	Transform string `json:"t,omitempty"`
}

// signer makes and checks tokens: base64url(JSON) "." base64url(HMAC-SHA256).
type signer struct {
	key []byte
}

func ensureSigningKey(ctx context.Context, db *pg.DB) ([]byte, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	if _, err := db.Admin.Exec(ctx,
		`insert into fluxbase.secrets (name, value) values ($1, $2) on conflict (name) do nothing`,
		signingKeySecret, base64.RawStdEncoding.EncodeToString(buf)); err != nil {
		return nil, fmt.Errorf("storage: cannot store the URL signing key in fluxbase.secrets: %w", err)
	}
	var v string
	if err := db.Admin.QueryRow(ctx, `select value from fluxbase.secrets where name = $1`, signingKeySecret).Scan(&v); err != nil {
		return nil, fmt.Errorf("storage: cannot read the URL signing key: %w", err)
	}
	key, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil || len(key) < 32 {
		return nil, errors.New("storage: the URL signing key in fluxbase.secrets is malformed")
	}
	return key, nil
}

func (s *signer) sign(t urlToken) string {
	payload, _ := json.Marshal(t)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

func (s *signer) mac(p string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(p))
	return m.Sum(nil)
}

// maxTokenLen bounds what is decoded: a name is at most 1 KiB.
const maxTokenLen = 4096

func errInvalidToken(msg string) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, CodeInvalidJWT, msg)
}

// verify checks the signature, the expiry, the kind and that the token was
// signed for exactly this bucket and name.
func (s *signer) verify(tok, kind, bucketID, name string, now time.Time) (urlToken, error) {
	if tok == "" {
		return urlToken{}, errInvalidToken("Missing token")
	}
	p, sig, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > maxTokenLen {
		return urlToken{}, errInvalidToken("Invalid token: malformed")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return urlToken{}, errInvalidToken("Invalid token: invalid signature")
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return urlToken{}, errInvalidToken("Invalid token: malformed")
	}
	var t urlToken
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return urlToken{}, errInvalidToken("Invalid token: malformed")
	}
	if t.Kind != kind {
		return urlToken{}, errInvalidToken("Invalid token: not signed for this operation")
	}
	if now.Unix() >= t.Expires {
		return urlToken{}, errInvalidToken("Invalid token: jwt expired")
	}
	if t.Bucket != bucketID || t.Name != name {
		return urlToken{}, errInvalidToken("Invalid token: signed for another object")
	}
	return t, nil
}

// SignedURL is a signed download URL path (relative to the API family's
// prefix) and its expiry.
type SignedURL struct {
	Token   string
	Expires time.Time
}

func (s *Service) checkExpiry(expiresIn int64) (time.Duration, error) {
	if expiresIn <= 0 {
		return 0, errInvalidRequest("expiresIn must be a positive number of seconds")
	}
	if max := int64(s.cfg.SignedURLMaxExpiry / time.Second); expiresIn > max {
		return 0, errInvalidRequest("expiresIn must be at most %d seconds (storage.signed_url_max_expiry)", max)
	}
	return time.Duration(expiresIn) * time.Second, nil
}

// SignDownload signs a download of an object the caller may read (SELECT
// under RLS); anyone holding the token may then download it until it
// expires. With a transformation (not nil), the token opens only that
// rendering of the image, at the render routes: the transformation is
// covered by the signature, so it cannot be changed without voiding it.
func (s *Service) SignDownload(ctx context.Context, c Caller, bucketID, name string, expiresIn int64, transform *TransformOptions) (SignedURL, error) {
	d, err := s.checkExpiry(expiresIn)
	if err != nil {
		return SignedURL{}, err
	}
	if _, err := s.Info(ctx, c, bucketID, name, AccessRLS); err != nil {
		return SignedURL{}, err
	}
	exp := time.Now().Add(d)
	t := urlToken{Kind: tokenDownload, Bucket: bucketID, Name: name, Expires: exp.Unix()}
	if transform != nil {
		t.Transform = transform.Query().Encode()
	}
	return SignedURL{Token: s.signer.sign(t), Expires: exp}, nil
}

// errTransformSigned refuses a token signed for a transformed image where
// the original would be served.
func errTransformSigned() *httpx.Error {
	return errInvalidToken("Invalid token: signed for a transformed image; use it at /render/image/sign")
}

// verifyRender checks a download token at a render route and returns the
// transformation to apply: the signed one when the token carries one, in
// which case the query may repeat it but not change it; otherwise the
// query's.
func (s *Service) verifyRender(tok, bucketID, name string, q url.Values) (TransformOptions, error) {
	t, err := s.signer.verify(tok, tokenDownload, bucketID, name, time.Now())
	if err != nil {
		return TransformOptions{}, err
	}
	limits := s.transformer.Limits()
	asked, err := ParseTransformOptions(q, limits)
	if err != nil || t.Transform == "" {
		return asked, err
	}
	sq, err := url.ParseQuery(t.Transform)
	if err != nil {
		return TransformOptions{}, errInvalidToken("Invalid token: malformed")
	}
	signed, err := ParseTransformOptions(sq, limits)
	if err != nil {
		return TransformOptions{}, errInvalidToken("Invalid token: malformed")
	}
	if hasTransformParams(q) && asked != signed {
		return TransformOptions{}, errInvalidToken("Invalid token: the transformation does not match the signature")
	}
	return signed, nil
}

// PresignDownload returns a URL straight to the backend (S3 presigned GET)
// for an object the caller may read, or ErrNotSupported.
func (s *Service) PresignDownload(ctx context.Context, c Caller, bucketID, name string, expiresIn int64, filename string) (string, time.Time, error) {
	d, err := s.checkExpiry(expiresIn)
	if err != nil {
		return "", time.Time{}, err
	}
	o, err := s.Info(ctx, c, bucketID, name, AccessRLS)
	if err != nil {
		return "", time.Time{}, err
	}
	u, err := s.backend.PresignGet(ctx, o.Version, d, filename)
	if err != nil {
		return "", time.Time{}, err
	}
	return u, time.Now().Add(d), nil
}

// SignedUpload is a token that lets its holder upload one object.
type SignedUpload struct {
	Token   string
	Expires time.Time
}

// SignUpload signs an upload that the caller's policies allow now (checked
// like an upload, before any byte); the upload itself then runs on the
// caller's behalf with the caller as owner.
func (s *Service) SignUpload(ctx context.Context, c Caller, bucketID, name string, upsert bool) (SignedUpload, error) {
	if _, err := s.prepare(ctx, c, UploadSpec{Bucket: bucketID, Name: name, Size: -1, Upsert: upsert}, true); err != nil {
		return SignedUpload{}, err
	}
	exp := time.Now().Add(s.cfg.SignedUploadExpiry)
	t := urlToken{Kind: tokenUpload, Bucket: bucketID, Name: name, Expires: exp.Unix(), Owner: c.Subject(), Upsert: upsert}
	return SignedUpload{Token: s.signer.sign(t), Expires: exp}, nil
}

// VerifyDownload checks a download token for bucketID/name. A token
// signed for a transformed image does not open the original.
func (s *Service) VerifyDownload(token, bucketID, name string) error {
	t, err := s.signer.verify(token, tokenDownload, bucketID, name, time.Now())
	if err == nil && t.Transform != "" {
		return errTransformSigned()
	}
	return err
}

// UploadSigned uploads with a signed upload token: as service_role on
// behalf of the token's owner, with the upsert the token was signed for.
func (s *Service) UploadSigned(ctx context.Context, token string, spec UploadSpec, body io.Reader) (Object, error) {
	t, err := s.signer.verify(token, tokenUpload, spec.Bucket, spec.Name, time.Now())
	if err != nil {
		return Object{}, err
	}
	spec.Upsert = t.Upsert
	return s.Upload(ctx, ServiceCaller(t.Owner), spec, body)
}
