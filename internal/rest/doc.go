// Package rest is the REST engine: the PostgREST grammar over the tables,
// views and functions of the exposed schemas, served at /rest/v1 (exactly
// as PostgREST) and /api/v1/tables, /api/v1/rpc (the native family).
//
// A request goes through named stages, each timed for Server-Timing:
// parse (query string and headers into the types of ast.go, no schema
// needed), plan (names resolved against one immutable schema.Cache
// snapshot, with PostgREST's errors for unknown relationships, functions
// and columns), sql (one statement built by a pure builder: identifiers
// from the cache, quoted; every value a bind parameter; the JSON body
// produced by PostgreSQL), and the transaction (pg.DB.QueryInRequestTx under
// the caller's role and claims, READ ONLY for reads: one pipelined round
// trip for a read, two for a write) followed by the response. A read whose
// shape (everything but its filters' values) was seen on the current
// snapshot reuses the statement built then, with its own values bound
// (shape.go).
//
// It must not: interpolate request values into SQL text, run more than one
// statement per request (the per-role statement timeout is part of the
// transaction's setup statement), check permissions in Go (RLS and grants
// decide), or render SQL it generated in an error.
package rest
