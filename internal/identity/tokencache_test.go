package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
)

// outcome is what a caller learns from Verify: the role, or the error code.
func outcome(s *Service, tok string) string {
	id, err := s.Verify(context.Background(), tok)
	if err != nil {
		return "error " + httpx.AsError(err).Code + ": " + httpx.AsError(err).Message
	}
	return "role " + id.Role + " sub " + id.Subject
}

// uncached returns a service sharing s's keys and configuration but
// without a token cache: the reference the cached service must agree with.
func uncached(t *testing.T, s *Service, cfg config.AuthConfig) *Service {
	t.Helper()
	ref, err := newService(cfg, nil)
	require.NoError(t, err)
	ref.tokens = nil
	ref.loadKeys = s.loadKeys
	ref.now = s.now
	require.NoError(t, ref.Reload(context.Background()))
	return ref
}

func TestTokenCacheHitReturnsTheSameIdentity(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	tok := signES(t, cur.private, cur.kid, userClaims("u1"))

	first, err := s.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, 1, s.tokens.len())
	_, cached := s.tokens.get(tok, s.keys.Load(), testNow)
	require.True(t, cached, "a verified token is remembered")

	second, err := s.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, first, second)
	assert.Equal(t, tok, second.Token)
	assert.Equal(t, cur.kid, second.KeyID)

	// A caller changing its copy of the claims does not change the next.
	second.Claims["role"] = "service_role"
	third, err := s.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, "authenticated", third.Claims["role"])
	assert.Equal(t, 1, s.tokens.len())
}

func TestTokenCacheKeepsExpiryExact(t *testing.T) {
	cfg := defaultAuth() // 30 s leeway
	s, _, cur := newTestService(t, cfg)
	exp := testNow.Add(time.Hour)
	c := userClaims("u1")
	c["exp"] = exp.Unix()
	c["nbf"] = testNow.Add(-time.Minute).Unix()
	tok := signES(t, cur.private, cur.kid, c)
	ref := uncached(t, s, cfg)

	clock := testNow
	s.now = func() time.Time { return clock }
	ref.now = s.now
	require.Equal(t, "role authenticated sub u1", outcome(s, tok))
	require.Equal(t, 1, s.tokens.len())

	// At every instant around the boundaries the cached service answers
	// exactly what a fresh verification answers.
	instants := []time.Time{
		exp.Add(-time.Second), exp, exp.Add(29 * time.Second), exp.Add(30*time.Second - time.Nanosecond),
		exp.Add(30 * time.Second), exp.Add(time.Hour),
		// The clock going back before nbf (less the leeway) also refuses.
		testNow, testNow.Add(-90 * time.Second), testNow.Add(-90*time.Second - time.Nanosecond), testNow.Add(-time.Hour),
	}
	for _, at := range instants {
		clock = at
		want := outcome(ref, tok)
		assert.Equal(t, want, outcome(s, tok), "at exp%+v", at.Sub(exp))
	}
	clock = exp.Add(30 * time.Second)
	assert.Contains(t, outcome(s, tok), "error "+CodeJWTExpired)
	_, ok := s.tokens.get(tok, s.keys.Load(), clock)
	assert.False(t, ok, "an expired entry is not served")
}

func TestTokenCacheEmptiedWhenKeysChange(t *testing.T) {
	prev := newKey(t, statusPrevious)
	prevPriv := newPrivateFor(t, prev)
	s, src, cur := newTestService(t, defaultAuth(), prev)
	tok := signES(t, prevPriv, prev.kid, userClaims("u1"))
	curTok := signES(t, cur.private, cur.kid, userClaims("u2"))
	require.Equal(t, "role authenticated sub u1", outcome(s, tok))
	require.Equal(t, "role authenticated sub u2", outcome(s, curTok))
	require.Equal(t, 2, s.tokens.len())

	// Revoke the previous key: it leaves the key set, and its tokens stop
	// verifying at once, cached or not.
	src.mu.Lock()
	src.keys = []*signingKey{cur}
	src.mu.Unlock()
	require.NoError(t, s.Reload(context.Background()))
	assert.Equal(t, 0, s.tokens.len(), "a reload empties the cache")
	assert.Contains(t, outcome(s, tok), "error "+CodeUnknownKey)
	assert.Equal(t, "role authenticated sub u2", outcome(s, curTok))
}

func TestTokenCacheIgnoresEntriesOfAnOldKeySet(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	tok := signES(t, cur.private, cur.kid, userClaims("u1"))
	old := s.keys.Load()
	id, err := s.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.NoError(t, s.Reload(context.Background()))
	// A verification that finished under the old set after the reload
	// stores an entry that the new set never uses.
	s.tokens.put(tok, old, id, time.Time{}, testNow.Add(time.Hour))
	_, ok := s.tokens.get(tok, s.keys.Load(), testNow)
	assert.False(t, ok)
	assert.Equal(t, 0, s.tokens.len(), "the stale entry is dropped on sight")
}

func TestTokenCacheDoesNotCacheFailures(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	other := newKey(t, statusCurrent)
	forged := signES(t, other.private, cur.kid, userClaims("u1"))
	for range 2 {
		assert.Contains(t, outcome(s, forged), "error "+CodeInvalidJWT)
	}
	expired := userClaims("u1")
	expired["exp"] = testNow.Add(-time.Hour).Unix()
	for range 2 {
		assert.Contains(t, outcome(s, signES(t, cur.private, cur.kid, expired)), "error "+CodeJWTExpired)
	}
	assert.Equal(t, 0, s.tokens.len())
}

func TestTokenCacheIsBoundedLRU(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	s.tokens = newTokenCache(3)
	toks := make([]string, 5)
	for i := range toks {
		toks[i] = signES(t, cur.private, cur.kid, userClaims(fmt.Sprintf("u%d", i)))
	}
	for _, tok := range toks[:3] {
		require.Equal(t, "role authenticated", outcome(s, tok)[:18])
	}
	// Touch toks[0] so that toks[1] is the least recently used.
	require.Contains(t, outcome(s, toks[0]), "sub u0")
	require.Contains(t, outcome(s, toks[3]), "sub u3")
	assert.Equal(t, 3, s.tokens.len())
	ks := s.keys.Load()
	for i, want := range []bool{true, false, true, true, false} {
		_, ok := s.tokens.get(toks[i], ks, testNow)
		assert.Equal(t, want, ok, "token %d cached", i)
	}
}

func TestTokenCacheComparesTheToken(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	tok := signES(t, cur.private, cur.kid, userClaims("u1"))
	id, err := s.Verify(context.Background(), tok)
	require.NoError(t, err)
	// Plant the entry under another token's hash: it must not be served
	// for that token, even if the hashes collided.
	other := tok + "x"
	s.tokens.mu.Lock()
	el := s.tokens.entries[sha256.Sum256([]byte(tok))]
	s.tokens.entries[sha256.Sum256([]byte(other))] = el
	s.tokens.mu.Unlock()
	_, ok := s.tokens.get(other, s.keys.Load(), testNow)
	assert.False(t, ok)
	got, ok := s.tokens.get(tok, s.keys.Load(), testNow)
	assert.True(t, ok)
	assert.Equal(t, id, got)
}

func TestTokenCacheConcurrent(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	s.tokens = newTokenCache(8)
	toks := make([]string, 16)
	for i := range toks {
		toks[i] = signES(t, cur.private, cur.kid, userClaims(fmt.Sprintf("u%d", i)))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 64 {
				n := (g + i) % len(toks)
				id, err := s.Verify(context.Background(), toks[n])
				if assert.NoError(t, err) {
					assert.Equal(t, fmt.Sprintf("u%d", n), id.Subject)
					id.Claims["sub"] = "changed"
				}
				if i%16 == 0 {
					assert.NoError(t, s.Reload(context.Background()))
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, s.tokens.len(), 8)
}

// newPrivateFor gives key k (a verification-only key) a private half to
// sign test tokens with.
func newPrivateFor(t *testing.T, k *signingKey) *ecdsa.PrivateKey {
	t.Helper()
	priv, err := generateES256()
	require.NoError(t, err)
	kid, err := thumbprint(&priv.PublicKey)
	require.NoError(t, err)
	k.kid, k.public = kid, &priv.PublicKey
	return priv
}
