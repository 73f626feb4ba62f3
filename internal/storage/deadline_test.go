package storage

import (
	"testing"
	"time"
)

func TestNextSendChunk(t *testing.T) {
	for _, c := range []struct {
		n         int64
		took      time.Duration
		timeout   time.Duration
		want      int64
		situation string
	}{
		{sendChunkMin, 0, 30 * time.Second, sendChunkMax, "taken at once"},
		{1 << 20, time.Millisecond, 30 * time.Second, sendChunkMax, "a fast client"},
		{1 << 20, time.Millisecond, time.Second, 1 << 20, "a fast client, a short timeout"},
		{1 << 20, 500 * time.Millisecond, time.Second, 512 << 10, "1 MiB in half the timeout: a quarter takes 512 KiB"},
		{4 << 20, 2 * time.Second, 4 * time.Second, 2 << 20, "4 MiB in half the timeout: a quarter takes 2 MiB"},
		{64 << 10, 2 * time.Second, time.Second, sendChunkMin, "a very slow client"},
		{64 << 10, 0, 10 * time.Millisecond, sendChunkMin, "a timeout shorter than a chunk takes"},
	} {
		if got := nextSendChunk(c.n, c.took, c.timeout); got != c.want {
			t.Errorf("%s: nextSendChunk(%d, %v, %v) = %d, want %d", c.situation, c.n, c.took, c.timeout, got, c.want)
		}
	}
}
