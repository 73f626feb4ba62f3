// Command fluxbase is the Fluxbase server and its administration commands.
//
// This package only parses the command line, loads the configuration,
// builds the logger, turns signals into context cancellation and reports
// errors; all the work is done by internal/app. It must not grow business
// logic of its own.
package main

import (
	"context"
	"os"
)

func main() {
	c := &cli{
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		environ:   os.Environ(),
		backend:   appBackend(),
		forceExit: os.Exit,
	}
	os.Exit(c.run(context.Background(), os.Args[1:]))
}
