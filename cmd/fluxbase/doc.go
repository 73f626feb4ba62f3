// Command fluxbase is the Fluxbase server and its administration commands.
//
// This package only parses the command line, loads the configuration,
// builds the logger, turns signals into context cancellation and reports
// errors; all the work is done by internal/app. It must not grow business
// logic of its own.
package main
