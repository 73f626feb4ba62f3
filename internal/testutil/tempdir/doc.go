// Package tempdir makes test directories that PostgreSQL can use.
//
// When tests run as root, PostgreSQL runs as an unprivileged OS user, and
// the directories testing.T.TempDir makes are 0700: that user could not
// reach a data directory below them.
//
// It is a leaf: it imports only the standard library, so that any test,
// including the internal tests of packages the harness itself depends on,
// can use it. Nothing here may be imported by non-test code.
package tempdir
