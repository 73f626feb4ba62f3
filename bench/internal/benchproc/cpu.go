package benchproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Throughput on a shared machine moves with whatever else runs on it; the
// processor time a process spends on the work moves much less. The
// benchmarks read it from /proc, here.

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ProcCPU is what /proc/PID/stat says of a process's processor time.
type ProcCPU struct {
	PID, PPID int
	// User and System are the process's own time; ChildUser and
	// ChildSystem that of the children it has waited for.
	User, System, ChildUser, ChildSystem time.Duration
}

// Own is the process's user + system time.
func (p ProcCPU) Own() time.Duration { return p.User + p.System }

// WithReaped is Own plus the time of the children it has waited for.
func (p ProcCPU) WithReaped() time.Duration { return p.Own() + p.ChildUser + p.ChildSystem }

// ReadCPU reads /proc/PID/stat; it fails once the process is gone.
func ReadCPU(pid int) (ProcCPU, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcCPU{}, err
	}
	// The command name is in parentheses and may contain spaces and ")".
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return ProcCPU{}, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	// From the state on: ppid is [1], utime, stime, cutime, cstime [11:15].
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 15 {
		return ProcCPU{}, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	var n [5]int64
	for j, k := range []int{1, 11, 12, 13, 14} {
		if n[j], err = strconv.ParseInt(f[k], 10, 64); err != nil {
			return ProcCPU{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	tick := func(v int64) time.Duration { return time.Duration(v) * time.Second / clockTicks }
	return ProcCPU{PID: pid, PPID: int(n[0]), User: tick(n[1]), System: tick(n[2]),
		ChildUser: tick(n[3]), ChildSystem: tick(n[4])}, nil
}

// CPUTime is pid's own user + system time, 0 once it is gone.
func CPUTime(pid int) time.Duration {
	p, err := ReadCPU(pid)
	if err != nil {
		return 0
	}
	return p.Own()
}

// AllCPU reads every process's entry; processes that end meanwhile are
// left out.
func AllCPU() []ProcCPU {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []ProcCPU
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := ReadCPU(pid); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// DescendantsCPU is the own time of pid's live descendants (not pid's).
func DescendantsCPU(pid int) time.Duration {
	children := map[int][]ProcCPU{}
	for _, p := range AllCPU() {
		children[p.PPID] = append(children[p.PPID], p)
	}
	var total time.Duration
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p.PID]...)
		total += p.Own()
	}
	return total
}
