package auth

import (
	"strings"
	"testing"
)

func TestParsePKCE(t *testing.T) {
	good := strings.Repeat("a", 43)
	cases := []struct {
		name, challenge, method string
		wantMethod              string
		wantErr                 error
	}{
		{"implicit flow", "", "", "", nil},
		{"s256", good, "S256", "s256", nil},
		{"plain", good, "plain", "plain", nil},
		{"challenge without method", good, "", "", errPKCEIncomplete},
		{"method without challenge", "", "s256", "", errPKCEIncomplete},
		{"unknown method", good, "md5", "", errPKCEMethod},
		{"too short", strings.Repeat("a", 42), "s256", "", errPKCEChallengeShape},
		{"too long", strings.Repeat("a", 129), "s256", "", errPKCEChallengeShape},
		{"bad alphabet", strings.Repeat("a", 42) + "=", "s256", "", errPKCEChallengeShape},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, m, err := parsePKCE(c.challenge, c.method)
			if err != c.wantErr {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if m != c.wantMethod {
				t.Fatalf("method = %q, want %q", m, c.wantMethod)
			}
		})
	}
}

func TestPKCEMatches(t *testing.T) {
	// RFC 7636 appendix B.
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	challenge := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if !pkceMatches(challenge, pkceMethodS256, verifier) {
		t.Fatal("RFC 7636 example does not match")
	}
	if pkceMatches(challenge, pkceMethodS256, verifier[:len(verifier)-1]+"l") {
		t.Fatal("a different verifier matched")
	}
	if pkceMatches(challenge, pkceMethodPlain, verifier) {
		t.Fatal("an S256 challenge matched as plain")
	}
	if !pkceMatches(verifier, pkceMethodPlain, verifier) {
		t.Fatal("plain challenge does not match its verifier")
	}
	if pkceMatches("short", pkceMethodPlain, "short") {
		t.Fatal("a verifier shorter than 43 characters matched")
	}
	if pkceMatches(challenge, "", verifier) {
		t.Fatal("an empty method matched")
	}
}
