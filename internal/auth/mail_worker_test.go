package auth

import (
	"testing"
	"time"
)

func TestMailBackoff(t *testing.T) {
	base := 30 * time.Second
	for attempts := 1; attempts <= 20; attempts++ {
		want := min(base<<(attempts-1), mailMaxBackoff)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := mailBackoff(base, attempts)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v, want within [%v, %v]", attempts, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("attempt %d: %d distinct waits in 50: no jitter", attempts, len(seen))
		}
	}
}
