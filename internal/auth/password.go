package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/fluxbase/fluxbase/internal/config"
)

// hashPassword hashes a new password with bcrypt at cost.
func hashPassword(pw string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hashing password: %w", err)
	}
	return string(h), nil
}

// errUnsupportedHash is returned for stored hashes of an unknown scheme.
var errUnsupportedHash = errors.New("auth: unsupported password hash")

// checkPassword compares pw with a stored hash: bcrypt ($2a$, $2b$, $2y$),
// or argon2id/argon2i in the PHC string format that imports from other
// systems carry ($argon2id$v=19$m=65536,t=3,p=4$salt$hash).
func checkPassword(stored, pw string) (bool, error) {
	switch {
	case strings.HasPrefix(stored, "$2a$"), strings.HasPrefix(stored, "$2b$"), strings.HasPrefix(stored, "$2y$"):
		err := bcrypt.CompareHashAndPassword([]byte(stored), []byte(pw))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	case strings.HasPrefix(stored, "$argon2"):
		return checkArgon2(stored, pw)
	}
	return false, errUnsupportedHash
}

// ValidImportedHash reports whether a hash given to the admin API can be
// checked at sign-in.
func ValidImportedHash(h string) bool {
	if strings.HasPrefix(h, "$argon2") {
		_, err := parseArgon2(h)
		return err == nil
	}
	_, err := bcrypt.Cost([]byte(h))
	return err == nil
}

type argon2Params struct {
	variant      string
	memory, time uint32
	threads      uint8
	salt, hash   []byte
}

func parseArgon2(s string) (*argon2Params, error) {
	parts := strings.Split(s, "$")
	// "", variant, v=19, m=..,t=..,p=.., salt, hash
	if len(parts) != 6 || (parts[1] != "argon2id" && parts[1] != "argon2i") {
		return nil, errUnsupportedHash
	}
	if parts[2] != "v=19" {
		return nil, errUnsupportedHash
	}
	p := &argon2Params{variant: parts[1]}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, errUnsupportedHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, errUnsupportedHash
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return nil, errUnsupportedHash
			}
			p.threads = uint8(n)
		default:
			return nil, errUnsupportedHash
		}
	}
	// Bounds keep a hostile import from making each sign-in allocate
	// gigabytes or spin for minutes.
	if p.memory < 8 || p.memory > 1<<20 || p.time < 1 || p.time > 20 || p.threads < 1 {
		return nil, errUnsupportedHash
	}
	var err error
	if p.salt, err = b64Lenient(parts[4]); err != nil {
		return nil, errUnsupportedHash
	}
	if p.hash, err = b64Lenient(parts[5]); err != nil || len(p.hash) < 16 || len(p.hash) > 128 {
		return nil, errUnsupportedHash
	}
	return p, nil
}

// b64Lenient decodes PHC's unpadded standard base64, accepting padding too.
func b64Lenient(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func checkArgon2(stored, pw string) (bool, error) {
	p, err := parseArgon2(stored)
	if err != nil {
		return false, err
	}
	var got []byte
	if p.variant == "argon2id" {
		got = argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.hash)))
	} else {
		got = argon2.Key([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.hash)))
	}
	return subtle.ConstantTimeCompare(got, p.hash) == 1, nil
}

// checkPolicy returns why pw does not meet the policy (GoTrue's reasons:
// "length", "characters"), or nil.
func checkPolicy(p config.PasswordConfig, pw string) ([]string, string) {
	var reasons []string
	var msgs []string
	if len([]rune(pw)) < p.MinLength {
		reasons = append(reasons, "length")
		msgs = append(msgs, fmt.Sprintf("Password should be at least %d characters.", p.MinLength))
	}
	if len(pw) > 72 {
		reasons = append(reasons, "length")
		msgs = append(msgs, "Password cannot be longer than 72 bytes.")
	}
	var missing []string
	for _, class := range p.RequiredCharacters {
		var ok bool
		switch strings.ToLower(class) {
		case "lower":
			ok = strings.IndexFunc(pw, unicode.IsLower) >= 0
		case "upper":
			ok = strings.IndexFunc(pw, unicode.IsUpper) >= 0
		case "digits":
			ok = strings.IndexFunc(pw, unicode.IsDigit) >= 0
		case "symbols":
			ok = strings.IndexFunc(pw, func(r rune) bool {
				return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r)
			}) >= 0
		default:
			ok = true
		}
		if !ok {
			missing = append(missing, class)
		}
	}
	if len(missing) > 0 {
		reasons = append(reasons, "characters")
		msgs = append(msgs, "Password should contain at least one character of each: "+strings.Join(missing, ", ")+".")
	}
	if len(reasons) == 0 {
		return nil, ""
	}
	return reasons, strings.Join(msgs, " ")
}
