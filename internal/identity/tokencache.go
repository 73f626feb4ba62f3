package identity

import (
	"container/list"
	"crypto/sha256"
	"maps"
	"sync"
	"time"
)

// defaultTokenCacheSize bounds how many verified tokens are remembered.
// An entry is a few hundred bytes, so the bound keeps the cache well under
// ten megabytes while covering far more concurrently active sessions than one
// process serves.
const defaultTokenCacheSize = 10000

// tokenCache remembers tokens that verified, so that a client presenting
// the same token again (every request of a session does) skips the
// signature check, which dominates the cost of a small request for ES256.
//
// Only successes are cached: a token that fails is verified again each
// time, so every error stays exactly what Verify would say. An entry is used
// only while the clock is inside the window in which Verify would accept the
// token (exp, nbf and iat with the leeway), only for the same token (the key
// is its SHA-256, and the token itself is compared too) and only under the
// key set it was verified with: a reload, rotation or revocation swaps the
// key set, which empties the cache and orphans any verification still in
// flight under the old set.
type tokenCache struct {
	mu      sync.Mutex
	max     int
	entries map[[sha256.Size]byte]*list.Element
	lru     list.List // front = most recently used; values are *tokenEntry
}

type tokenEntry struct {
	key   [sha256.Size]byte
	token string
	keys  *keySet
	id    Identity
	// The token verifies while !now.Before(from) && now.Before(until):
	// the same comparisons the JWT validator makes.
	from, until time.Time
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{max: size, entries: make(map[[sha256.Size]byte]*list.Element)}
}

// get returns the identity cached for token if it may still be used at now
// under keys.
func (c *tokenCache) get(token string, keys *keySet, now time.Time) (Identity, bool) {
	if c == nil || c.max <= 0 {
		return Identity{}, false
	}
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	el, ok := c.entries[k]
	if !ok {
		c.mu.Unlock()
		return Identity{}, false
	}
	e := el.Value.(*tokenEntry)
	if e.token != token || e.keys != keys || now.Before(e.from) || !now.Before(e.until) {
		if !now.Before(e.until) || e.keys != keys {
			c.removeLocked(el)
		}
		c.mu.Unlock()
		return Identity{}, false
	}
	c.lru.MoveToFront(el)
	id := e.id
	c.mu.Unlock()
	// Each request gets its own top-level claims map; the values inside are
	// shared and, like every verified claim, read-only.
	id.Claims = maps.Clone(id.Claims)
	return id, true
}

// put remembers id for token, verified under keys, usable in [from, until).
func (c *tokenCache) put(token string, keys *keySet, id Identity, from, until time.Time) {
	if c == nil || c.max <= 0 {
		return
	}
	k := sha256.Sum256([]byte(token))
	e := &tokenEntry{key: k, token: token, keys: keys, id: id, from: from, until: until}
	e.id.Claims = maps.Clone(id.Claims)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.entries[k] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		c.removeLocked(c.lru.Back())
	}
}

// clear forgets every entry.
func (c *tokenCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	clear(c.entries)
	c.lru.Init()
	c.mu.Unlock()
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *tokenCache) removeLocked(el *list.Element) {
	delete(c.entries, el.Value.(*tokenEntry).key)
	c.lru.Remove(el)
}
