package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/fluxbase/fluxbase/internal/pg"
)

// forcedStopTimeout bounds the immediate shutdown of the embedded
// PostgreSQL on a second signal, before it is killed.
const forcedStopTimeout = 5 * time.Second

// withSignals returns a context cancelled by the first SIGINT or SIGTERM,
// which starts a graceful shutdown. A second signal means the user will not
// wait: the process exits at once with 128+signal, as a shell reports a
// process killed by that signal. stop releases the signals and must be
// called when the command is done. The embedded PostgreSQL, if this process
// runs one, gets an immediate shutdown before that exit, so that it does
// not outlive the process.
func (c *cli) withSignals(parent context.Context, log *slog.Logger) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case s := <-ch:
			log.Info("shutting down; send the signal again to stop at once", "signal", s.String())
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-ch:
			log.Error("second signal: exiting without a clean shutdown; the embedded PostgreSQL gets an immediate shutdown", "signal", s.String())
			pg.StopOwnedNow(forcedStopTimeout)
			c.forceExit(signalExitCode(s))
		case <-done:
		}
	})
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			wg.Wait()
			cancel()
		})
	}
}

func signalExitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return exitError
}
