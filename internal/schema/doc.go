// Package schema owns the schema cache: an immutable snapshot of the
// exposed schemas' relations, columns, keys, enums, functions and
// relationships, read from the PostgreSQL catalog in a few queries, and the
// Service that keeps it current (reloading after DDL, on NOTIFY and on
// demand).
//
// It only reads the catalog through the admin pool; it never runs requests
// on behalf of API callers, and it does not build request SQL (the REST
// engine does, using the names recorded here).
package schema
