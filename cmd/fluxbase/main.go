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
