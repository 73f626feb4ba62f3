package storage

import (
	"container/list"
	"sync"
)

// imageCache keeps rendered images in memory, least recently used first out,
// within a byte budget. A result larger than an eighth of the budget is not
// kept, so that one large image cannot flush everything else.
type imageCache struct {
	mu      sync.Mutex
	budget  int64
	used    int64
	order   *list.List // front: most recently used; values are *cacheEntry
	entries map[string]*list.Element
}

type cacheEntry struct {
	key string
	r   *Rendered
}

func newImageCache(budget int64) *imageCache {
	return &imageCache{budget: budget, order: list.New(), entries: map[string]*list.Element{}}
}

func entrySize(key string, r *Rendered) int64 {
	// The fixed part approximates the map, list and struct overhead.
	return int64(len(r.Data)+len(key)+len(r.ContentType)+len(r.Transformations)) + 256
}

func (c *imageCache) get(key string) (*Rendered, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).r, true
}

func (c *imageCache) put(key string, r *Rendered) {
	size := entrySize(key, r)
	if c.budget <= 0 || size > c.budget/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, r: r})
	c.used += size
	for c.used > c.budget {
		last := c.order.Back()
		e := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.entries, e.key)
		c.used -= entrySize(e.key, e.r)
	}
}

// stats returns the number of entries and the bytes they take.
func (c *imageCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.used
}
