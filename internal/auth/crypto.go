package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// encryptionSecret names the generated encryption key in fluxbase.secrets.
const encryptionSecret = "auth_encryption_key"

// Crypter encrypts small secrets at rest with AES-256-GCM. Ciphertexts are
// "v1:" followed by base64url(nonce || sealed), so that a later key format
// can be told apart.
type Crypter struct{ aead cipher.AEAD }

// NewCrypter derives an AES-256 key from key material of any length.
func NewCrypter(material []byte) (*Crypter, error) {
	if len(material) < 32 {
		return nil, errors.New("auth: encryption key material must be at least 32 bytes")
	}
	k := sha256.Sum256(append([]byte("fluxbase auth encryption v1\x00"), material...))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Crypter{aead: aead}, nil
}

// loadCrypter uses the configured key or, without one, the key kept in
// fluxbase.secrets, generating it on the first start. Replicas racing to
// generate it all end up with the one stored first.
func loadCrypter(ctx context.Context, admin *pgxpool.Pool, configured string) (*Crypter, error) {
	if configured != "" {
		return NewCrypter([]byte(configured))
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if _, err := admin.Exec(ctx,
		`insert into fluxbase.secrets (name, value) values ($1, $2) on conflict (name) do nothing`,
		encryptionSecret, base64.StdEncoding.EncodeToString(fresh)); err != nil {
		return nil, fmt.Errorf("auth: storing the encryption key: %w", err)
	}
	var stored string
	if err := admin.QueryRow(ctx, `select value from fluxbase.secrets where name = $1`, encryptionSecret).Scan(&stored); err != nil {
		return nil, fmt.Errorf("auth: reading the encryption key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, fmt.Errorf("auth: the encryption key in fluxbase.secrets is not base64: %w", err)
	}
	return NewCrypter(key)
}

// Encrypt seals plaintext; aad binds it to its context (a row id, a
// purpose) so that a ciphertext copied to another row does not decrypt.
func (c *Crypter) Encrypt(plaintext, aad string) (string, error) {
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := c.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return "v1:" + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Decrypt opens what Encrypt sealed with the same aad.
func (c *Crypter) Decrypt(ciphertext, aad string) (string, error) {
	rest, ok := strings.CutPrefix(ciphertext, "v1:")
	if !ok {
		return "", errors.New("auth: unknown ciphertext format")
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < c.aead.NonceSize() {
		return "", errors.New("auth: malformed ciphertext")
	}
	n := c.aead.NonceSize()
	pt, err := c.aead.Open(nil, raw[:n], raw[n:], []byte(aad))
	if err != nil {
		return "", errors.New("auth: ciphertext does not decrypt with this key")
	}
	return string(pt), nil
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics
		// rather than returning an error); keep the signature honest.
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is how every token is stored: its SHA-256.
func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
