package storage_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Concurrent overwrites of one name and concurrent creates of another end
// with one row each, readable, and no bytes left over.
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		e.createBucket(t, "b", false)
		var wg sync.WaitGroup
		codes := make(chan int, 40)
		for i := range 20 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				code, body, _ := e.do(t, "POST", "/storage/v1/object/b/same.txt", e.service("Content-Type", "text/plain", "x-upsert", "true"),
					fmt.Sprintf("version %02d", i))
				if code != 200 {
					t.Errorf("upsert %d: %d %s", i, code, body)
				}
			}()
			go func() {
				defer wg.Done()
				code, _, _ := e.do(t, "POST", "/storage/v1/object/b/once.txt", e.service("Content-Type", "text/plain"), "x")
				codes <- code
			}()
		}
		wg.Wait()
		close(codes)
		created := 0
		for c := range codes {
			switch c {
			case 200:
				created++
			case 409:
			default:
				t.Errorf("create: status %d", c)
			}
		}
		if created != 1 {
			t.Errorf("%d creates succeeded, want 1", created)
		}
		got := e.mustDo(t, 200, "GET", "/storage/v1/object/b/same.txt", e.service(), nil)
		if !strings.HasPrefix(got, "version ") {
			t.Errorf("same.txt holds %q", got)
		}
		eventually(t, "one set of bytes per object", func() bool { return len(e.storedKeys(t)) == 2 && e.objectRows(t) == 2 })
	})
}
