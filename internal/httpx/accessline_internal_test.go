package httpx

import (
	"encoding/json"
	"math"
	"testing"
)

func TestAppendLogFloatMatchesJSON(t *testing.T) {
	for _, f := range []float64{0, 0.001, 0.1, 1, 1.5, 12.345, 1234567.891, 1e-6, 9.99e-7, 1e-7, 1.5e-9,
		1e20, 1e21, 1.5e22, 1e100, -0.25, -1e-8, -3e21, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendLogFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendLogFloat(%v) = %s, want %s", f, got, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := appendLogFloat(nil, f); !json.Valid(got) {
			t.Errorf("appendLogFloat(%v) = %s, not JSON", f, got)
		}
	}
}
