// Package testservers starts the real third-party servers that tests talk
// to — mailpit (an SMTP server whose HTTP API reads the mail back) and the
// zitadel example OpenID provider — from bin/tools, where
// `make test-deps` installs them, on free loopback ports, and stops them
// when the test ends.
//
// Nothing here may be imported by non-test code, and nothing here may
// stand in for the servers themselves: tests drive the real programs.
package testservers
