package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Key statuses in fluxbase.signing_keys. A "current" key signs; "current"
// and "previous" keys verify and are published in the JWKS; "revoked" keys
// do neither and have their private half erased.
const (
	statusCurrent  = "current"
	statusPrevious = "previous"
	statusRevoked  = "revoked"
)

const algES256 = "ES256"

// signingKey is one ES256 key as loaded from the database.
type signingKey struct {
	kid       string
	status    string
	public    *ecdsa.PublicKey
	private   *ecdsa.PrivateKey // set for the current key only
	createdAt time.Time
	// The API keys minted with this key (current key only). They are stored
	// because ES256 signatures are randomized: re-signing at every start would
	// print a different key each time.
	anonKey        string
	serviceRoleKey string
}

func generateES256() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ES256 key: %w", err)
	}
	return k, nil
}

// ecCoordinates returns the big-endian, zero-padded affine coordinates of a
// P-256 public key, as JWK x and y carry them.
func ecCoordinates(pub *ecdsa.PublicKey) (x, y []byte, err error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, nil, errors.New("not a P-256 public key")
	}
	ek, err := pub.ECDH()
	if err != nil {
		return nil, nil, fmt.Errorf("invalid P-256 public key: %w", err)
	}
	raw := ek.Bytes() // 0x04 || X || Y
	if len(raw) != 65 || raw[0] != 4 {
		return nil, nil, errors.New("unexpected P-256 point encoding")
	}
	return raw[1:33], raw[33:65], nil
}

// thumbprint is the RFC 7638 JWK thumbprint of an EC public key: the
// SHA-256 of the required members in lexicographic order without
// whitespace, base64url without padding. It makes the kid a pure function of
// the key, so that every replica and every external verifier agree on it.
func thumbprint(pub *ecdsa.PublicKey) (string, error) {
	x, y, err := ecCoordinates(pub)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	canonical := `{"crv":"P-256","kty":"EC","x":"` + enc.EncodeToString(x) + `","y":"` + enc.EncodeToString(y) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return enc.EncodeToString(sum[:]), nil
}

// jwk is the public JSON Web Key of an ES256 signing key (RFC 7517/7518).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	// KeyOps tells verifiers this key only ever verifies.
	KeyOps []string `json:"key_ops"`
}

func publicJWK(kid string, pub *ecdsa.PublicKey) (jwk, error) {
	x, y, err := ecCoordinates(pub)
	if err != nil {
		return jwk{}, err
	}
	enc := base64.RawURLEncoding
	return jwk{
		Kty: "EC", Crv: "P-256",
		X: enc.EncodeToString(x), Y: enc.EncodeToString(y),
		Kid: kid, Alg: algES256, Use: "sig", KeyOps: []string{"verify"},
	}, nil
}

// renderJWKS renders the JWK Set of the keys, in the order given.
func renderJWKS(keys []*signingKey) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	for _, k := range keys {
		j, err := publicJWK(k.kid, k.public)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.kid, err)
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}

func encodePrivatePEM(k *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("encode private key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

func encodePublicPEM(k *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

func decodePrivatePEM(s string) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("private key is not a PKCS#8 PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("private key is not a P-256 ECDSA key")
	}
	return ek, nil
}

func decodePublicPEM(s string) (*ecdsa.PublicKey, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("public key is not a PKIX PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("public key is not a P-256 ECDSA key")
	}
	return ek, nil
}
