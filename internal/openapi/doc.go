// Package openapi owns Fluxbase's OpenAPI 3.0 document: a typed model of
// the document, and the Builder that merges the static description of the
// fixed routes with what each subsystem contributes (the REST API of the
// exposed schemas, and later auth, storage and others). Renderings are
// cached per audience (the caller's role, for contributors that follow
// privileges) until a contributor's revision changes; comparing revisions
// on each request needs no goroutine and cannot miss a change.
//
// It knows nothing about any subsystem: contributors fill the document in
// themselves. It does not serve HTTP (internal/app does) and never reads
// the database.
package openapi
