//go:build !race

package rest_test

// injectionStride is 1 without the race detector: every payload goes
// through every target (see injection_race_test.go).
const injectionStride = 1
