// Package app wires Fluxbase together: it builds every service from the
// configuration, in order, and owns their lifecycle (start-up, readiness,
// graceful shutdown). It is the only package that knows them all.
//
// It must not hold business logic of its own: handlers and services live in
// their packages; app only decides what runs, in which order, and on which
// route.
package app
