//go:build race

package rest_test

// injectionStride thins the injection matrix under the race detector, which
// slows the in-process server about tenfold: payload i goes through target
// t when (i+t) % injectionStride == 0, so every target still receives a
// quarter of the corpus and every payload a quarter of the targets, in
// rotation. Without the race detector the whole matrix runs.
const injectionStride = 4
