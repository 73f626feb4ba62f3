// Package config loads Fluxbase's configuration from built-in defaults, an
// optional fluxbase.yaml, FLUXBASE_* environment variables, DATABASE_URL and
// command line flags, and validates it with messages that name the key and
// say how to fix it.
//
// It owns the shape of the configuration, its defaults and the rules for
// each value. It must not open any file other than the configuration file
// (the driver's URL parser may read TLS files a database URL names), read
// the process environment behind the caller's back (the caller passes it
// in), talk to the database, or hold secrets of its own: no secret has a
// default.
package config
