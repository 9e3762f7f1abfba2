//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// raiseFileLimit lifts RLIMIT_NOFILE to at least want (the hard limit
// too, where allowed) and returns the soft limit now in force. Setting it
// explicitly also makes children (the server) inherit it: Go restores
// the original soft limit for children of programs that never call
// Setrlimit.
func raiseFileLimit(want uint64) (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Max < want {
		higher := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &higher); err == nil {
			return want, nil
		}
	}
	r.Cur = r.Max
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	if err == nil && r.Cur < want {
		err = fmt.Errorf("hard limit %d is below the %d wanted", r.Max, want)
	}
	return r.Cur, err
}

// setDeathSignal kills the child if the bench dies without cleaning up.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// processRSS is a process's resident set size (VmRSS) in bytes.
func processRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// cpuSnapshot is the machine's CPU time and that of this run's processes
// (the bench, its children, the PostgreSQL backends of its databases, the
// NATS servers), in
// clock ticks, each process with what it is.
type cpuSnapshot struct {
	busy, irq, total int64
	mine             map[int]int64
	what             map[int]string
}

// takeCPU reads /proc. dbPrefix names the run's databases, which the
// backends serving them show in their process titles; serverBin is the
// jobsphere binary.
func takeCPU(dbPrefix, serverBin string) cpuSnapshot {
	s := cpuSnapshot{mine: map[int]int64{}, what: map[int]string{}}
	if raw, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(raw), "\n")
		for i, f := range strings.Fields(line)[1:] {
			v, _ := strconv.ParseInt(f, 10, 64)
			if i >= 8 { // guest time is already in user
				break
			}
			s.total += v
			switch i {
			case 3, 4: // idle, iowait
			case 5, 6: // irq, softirq: charged to no process (much of it the run's own loopback traffic)
				s.irq += v
			default:
				s.busy += v
			}
		}
	}
	self := os.Getpid()
	parent := map[int]int{}
	ticks := map[int]int64{}
	cmdline := map[int]string{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// After "(comm)": state ppid … utime(12th) stime cutime cstime.
		i := strings.LastIndexByte(string(raw), ')')
		f := strings.Fields(string(raw)[i+1:])
		if len(f) < 15 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		var t int64
		for k := 11; k <= 14; k++ {
			if k <= 12 || pid == self { // children's time only for the bench, which waits for its children
				v, _ := strconv.ParseInt(f[k], 10, 64)
				t += v
			}
		}
		ticks[pid] = t
		cmd, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		cmdline[pid] = string(cmd)
	}
	for pid, t := range ticks {
		cmd := cmdline[pid]
		if pid == self {
			s.mine[pid], s.what[pid] = t, "load generator"
			continue
		}
		for p, hops := parent[pid], 0; p > 1 && hops < 64; p, hops = parent[p], hops+1 {
			if p == self { // the bench's children: servers, stripe-mock, pgbench
				s.mine[pid], s.what[pid] = t, "tools"
				if strings.HasPrefix(cmd, serverBin+"\x00") {
					s.what[pid] = "server"
				}
				break
			}
		}
		if _, ok := s.mine[pid]; !ok && strings.Contains(cmd, dbPrefix) {
			s.mine[pid], s.what[pid] = t, "PostgreSQL"
		}
		if argv0, _, _ := strings.Cut(cmd, "\x00"); filepath.Base(argv0) == "nats-server" {
			s.mine[pid], s.what[pid] = t, "NATS" // the machine's: perhaps not all of it this run's
		}
	}
	return s
}

// cpuUse is how many CPUs' worth each part of this run ("server",
// "PostgreSQL", …), processes not of this run ("others"; interrupts left
// out) and the whole machine ("busy") used between a and b.
func cpuUse(a, b cpuSnapshot) map[string]float64 {
	elapsed := float64(b.total-a.total) / float64(runtime.NumCPU())
	if elapsed <= 0 {
		return nil
	}
	use := map[string]float64{"busy": float64(b.busy-a.busy+b.irq-a.irq) / elapsed}
	var mine int64
	for pid, t := range b.mine {
		d := t - a.mine[pid] // a process started since a counts whole
		mine += d
		use[b.what[pid]] += float64(d) / elapsed
	}
	use["others"] = max(0, float64(b.busy-a.busy-mine)/elapsed)
	return use
}
