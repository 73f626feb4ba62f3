package auth

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/fluxbase/fluxbase/internal/config"
)

func TestCheckPasswordSchemes(t *testing.T) {
	h, err := hashPassword("s3cret-pass", 4)
	require.NoError(t, err)
	ok, err := checkPassword(h, "s3cret-pass")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = checkPassword(h, "s3cret-pasS")
	require.NoError(t, err)
	assert.False(t, ok)

	// $2y$ (PHP) and $2b$ hashes from other systems are bcrypt too.
	for _, prefix := range []string{"$2y$", "$2b$"} {
		alt := prefix + strings.TrimPrefix(h, "$2a$")
		ok, err := checkPassword(alt, "s3cret-pass")
		require.NoError(t, err, prefix)
		assert.True(t, ok, prefix)
	}

	salt := []byte("0123456789abcdef")
	enc := base64.RawStdEncoding.EncodeToString
	id := "$argon2id$v=19$m=64,t=1,p=2$" + enc(salt) + "$" + enc(argon2.IDKey([]byte("pw-argon"), salt, 1, 64, 2, 32))
	i := "$argon2i$v=19$m=64,t=1,p=1$" + enc(salt) + "$" + enc(argon2.Key([]byte("pw-argon"), salt, 1, 64, 1, 24))
	for _, stored := range []string{id, i} {
		assert.True(t, ValidImportedHash(stored))
		ok, err := checkPassword(stored, "pw-argon")
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = checkPassword(stored, "pw-argoN")
		require.NoError(t, err)
		assert.False(t, ok)
	}

	// Hostile or broken imports are refused, never run: absurd memory or
	// time, wrong version, bad base64, unknown schemes.
	for _, bad := range []string{
		"$argon2id$v=19$m=4194304,t=1,p=1$" + enc(salt) + "$" + enc(make([]byte, 32)),
		"$argon2id$v=19$m=64,t=1000,p=1$" + enc(salt) + "$" + enc(make([]byte, 32)),
		"$argon2id$v=16$m=64,t=1,p=1$" + enc(salt) + "$" + enc(make([]byte, 32)),
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + enc(make([]byte, 32)),
		"$argon2id$v=19$m=64,t=1,p=0$" + enc(salt) + "$" + enc(make([]byte, 32)),
		"$argon2d$v=19$m=64,t=1,p=1$" + enc(salt) + "$" + enc(make([]byte, 32)),
		"$argon2id$v=19$x=1$" + enc(salt) + "$" + enc(make([]byte, 32)),
		"md5$abc", "", "$2a$99$short",
	} {
		assert.False(t, ValidImportedHash(bad), bad)
		ok, _ := checkPassword(bad, "anything")
		assert.False(t, ok, bad)
	}
	_, err = checkPassword("md5$abc", "x")
	assert.ErrorIs(t, err, errUnsupportedHash)
	assert.Equal(t, 4, bcryptCost(h))
	assert.Equal(t, 0, bcryptCost("nope"))
	_ = bcrypt.MinCost
}

func TestPasswordPolicy(t *testing.T) {
	p := config.PasswordConfig{MinLength: 10, RequiredCharacters: []string{"lower", "upper", "digits", "symbols"}}
	reasons, msg := checkPolicy(p, "Aa1!Aa1!Aa1!")
	assert.Nil(t, reasons, msg)
	reasons, msg = checkPolicy(p, "short")
	assert.Equal(t, []string{"length", "characters"}, reasons)
	assert.Contains(t, msg, "at least 10 characters")
	assert.Contains(t, msg, "upper, digits, symbols")
	reasons, _ = checkPolicy(p, "ALLUPPERCASE1!")
	assert.Equal(t, []string{"characters"}, reasons)
	reasons, _ = checkPolicy(config.PasswordConfig{MinLength: 6}, strings.Repeat("x", 73))
	assert.Equal(t, []string{"length"}, reasons, "bcrypt ignores bytes past 72, so they are refused")
	// Length counts characters, not bytes.
	reasons, _ = checkPolicy(config.PasswordConfig{MinLength: 6}, "ééééé")
	assert.Equal(t, []string{"length"}, reasons)
}

func TestCrypter(t *testing.T) {
	c, err := NewCrypter([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	ct, err := c.Encrypt("totp-seed", "factor:1")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ct, "v1:"))
	assert.NotContains(t, ct, "totp-seed")
	ct2, err := c.Encrypt("totp-seed", "factor:1")
	require.NoError(t, err)
	assert.NotEqual(t, ct, ct2, "a fresh nonce every time")
	pt, err := c.Decrypt(ct, "factor:1")
	require.NoError(t, err)
	assert.Equal(t, "totp-seed", pt)

	_, err = c.Decrypt(ct, "factor:2")
	assert.Error(t, err, "bound to its context")
	other, err := NewCrypter([]byte(strings.Repeat("o", 32)))
	require.NoError(t, err)
	_, err = other.Decrypt(ct, "factor:1")
	assert.Error(t, err, "another key does not open it")
	for _, bad := range []string{"", "v1:", "v1:%%%", "v2:abc", ct[:len(ct)-2]} {
		_, err := c.Decrypt(bad, "factor:1")
		assert.Error(t, err, bad)
	}
	_, err = NewCrypter([]byte("short"))
	assert.Error(t, err)
}

func TestNormalize(t *testing.T) {
	e, err := normalizeEmail("  Ann@Example.COM ")
	require.NoError(t, err)
	assert.Equal(t, "ann@example.com", e)
	for _, bad := range []string{"ann", "ann@", "@x.com", "Ann <ann@example.com>", "ann@localhost", "a b@example.com"} {
		_, err := normalizeEmail(bad)
		assert.Error(t, err, bad)
	}
	p, err := normalizePhone("+1 (555) 555-0100")
	require.NoError(t, err)
	assert.Equal(t, "15555550100", p)
	_, err = normalizePhone("12")
	assert.Error(t, err)
	assert.True(t, validUUID(newUUIDString()))
}
