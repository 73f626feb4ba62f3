package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

// PKCE (RFC 7636) as GoTrue accepts it: a flow that starts with a
// code_challenge and its method ends with /token?grant_type=pkce, where the
// client proves it started the flow by presenting the verifier.

const (
	pkceMethodS256  = "s256"
	pkceMethodPlain = "plain"

	// RFC 7636 §4.1 bounds the verifier to 43..128 characters; a plain
	// challenge is the verifier and an S256 challenge is 43 characters, so
	// the same bounds apply to the challenge.
	pkceMinLength = 43
	pkceMaxLength = 128
)

var (
	errPKCEIncomplete     = errors.New("PKCE flow requires code_challenge_method and code_challenge")
	errPKCEMethod         = errors.New("unsupported code_challenge_method, supported methods are 'plain' or 's256'")
	errPKCEChallengeShape = errors.New("code challenge has to be between 43 and 128 characters of [A-Za-z0-9-._~]")
)

// parsePKCE validates the code challenge a client sent when starting a flow.
// Both empty means the implicit flow and returns ("", "", nil); the method
// comes back normalized to "s256" or "plain".
func parsePKCE(challenge, method string) (string, string, error) {
	challenge = strings.TrimSpace(challenge)
	method = strings.ToLower(strings.TrimSpace(method))
	if challenge == "" && method == "" {
		return "", "", nil
	}
	if challenge == "" || method == "" {
		return "", "", errPKCEIncomplete
	}
	if method != pkceMethodS256 && method != pkceMethodPlain {
		return "", "", errPKCEMethod
	}
	if !pkceWellFormed(challenge) {
		return "", "", errPKCEChallengeShape
	}
	return challenge, method, nil
}

// pkceWellFormed reports whether s has the length and alphabet RFC 7636
// allows for verifiers (and therefore for challenges).
func pkceWellFormed(s string) bool {
	if len(s) < pkceMinLength || len(s) > pkceMaxLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// pkceMatches reports whether verifier answers challenge under method, in
// constant time with respect to the challenge.
func pkceMatches(challenge, method, verifier string) bool {
	if !pkceWellFormed(verifier) {
		return false
	}
	var want string
	switch method {
	case pkceMethodS256:
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	case pkceMethodPlain:
		want = verifier
	default:
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}
