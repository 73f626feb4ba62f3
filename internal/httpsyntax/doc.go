// Package httpsyntax holds the pieces of the HTTP grammar (RFC 9110) that
// both the configuration checks and the HTTP middleware apply, so that a
// value the configuration accepts is one the middleware accepts too.
//
// It is a leaf: it imports only the standard library, because config and
// httpx both use it and httpx already imports config.
package httpsyntax
