package rest

import (
	"testing"
	"time"
)

// TestAppendMillis checks the Server-Timing durations: milliseconds with
// one decimal, rounded to the nearest tenth.
func TestAppendMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.0"},
		{-time.Millisecond, "0.0"},
		{49 * time.Microsecond, "0.0"},
		{50 * time.Microsecond, "0.1"},
		{149 * time.Microsecond, "0.1"},
		{999 * time.Microsecond, "1.0"},
		{1234567 * time.Nanosecond, "1.2"},
		{12*time.Second + 345*time.Millisecond, "12345.0"},
	} {
		if got := string(appendMillis(nil, c.d)); got != c.want {
			t.Errorf("appendMillis(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
