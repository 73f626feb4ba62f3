// Package storage owns file storage: buckets and objects whose metadata
// lives in storage.buckets and storage.objects and whose bytes live in a
// Backend (a local directory or S3), the HTTP API in two shapes (native
// /api/v1/storage and storage-api-shaped /storage/v1 for @supabase/storage-js),
// signed URLs, resumable uploads and image transforms.
//
// Every metadata read and write runs under the caller's role and claims in
// a request transaction, so that the user's row level security policies
// decide who may upload, overwrite, read, list and delete; the package never
// checks permissions in Go as a substitute. Bytes are written before the row
// that references them and removed only after that row is gone, so a row
// never points at missing bytes; orphans are removed by the janitor.
//
// It must not buffer whole files in memory, nor let an object name reach
// the backend: backend keys are generated, never derived from names.
package storage
