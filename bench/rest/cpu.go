package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/fluxbase/fluxbase/bench/internal/benchproc"
)

// Throughput on a shared machine moves with whatever else runs on it; the
// CPU time each process spends per request moves much less. So the
// benchmark also reads, over exactly the measured window of each run, the
// CPU time of this process (the server being measured: only one side is
// under load at a time), of PostgreSQL (the postmaster and all its
// backends) and of the load generator, and reports it per request.

// The load generator prints these lines on stderr when the measured
// window starts and ends, so that the parent takes its readings then.
const (
	markStart = "loadgen: measuring"
	markEnd   = "loadgen: measured"
)

// cpuTime is user + system CPU time.
type cpuTime time.Duration

// selfCPU is the CPU time this process has used.
func selfCPU() cpuTime {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return cpuTime(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()))
}

// postgresCPU is the CPU time of the postmaster pid, of its live children
// and of the children it has reaped (backends of closed connections).
func postgresCPU(pid int) cpuTime {
	var t time.Duration
	for _, p := range benchproc.AllCPU() {
		switch {
		case p.PID == pid:
			t += p.WithReaped()
		case p.PPID == pid:
			t += p.Own()
		}
	}
	return cpuTime(t)
}

// cpuReading is what one run's measured window cost.
type cpuReading struct {
	server, postgres, loadgen cpuTime
}

func (a *cpuReading) add(b cpuReading) {
	a.server += b.server
	a.postgres += b.postgres
	a.loadgen += b.loadgen
}

// windowWatcher reads the load generator's stderr, takes the server's and
// PostgreSQL's readings at its marks and keeps the rest for error messages.
type windowWatcher struct {
	pgPID int

	mu             sync.Mutex
	start, end     cpuReading
	started, ended bool
	other          bytes.Buffer
}

func (w *windowWatcher) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line != markStart && line != markEnd {
			// Other lines are kept for error messages and need no
			// reading (postgresCPU walks all of /proc).
			w.mu.Lock()
			w.other.WriteString(line + "\n")
			w.mu.Unlock()
			continue
		}
		now := cpuReading{server: selfCPU(), postgres: postgresCPU(w.pgPID)}
		w.mu.Lock()
		if line == markStart {
			w.start, w.started = now, true
		} else {
			w.end, w.ended = now, true
		}
		w.mu.Unlock()
	}
}

// window is the server's and PostgreSQL's CPU time between the marks.
func (w *windowWatcher) window() (cpuReading, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || !w.ended {
		return cpuReading{}, false
	}
	return cpuReading{server: w.end.server - w.start.server, postgres: w.end.postgres - w.start.postgres}, true
}

// perRequest renders t per request in microseconds.
func perRequest(t cpuTime, requests int) string {
	if requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(time.Duration(t).Microseconds())/float64(requests))
}
