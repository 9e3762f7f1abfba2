package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
)

// startProfile starts a CPU profile of this process when -profile is set
// (the phase's server then runs in-process). The returned stop writes
// <dir>/<name>.pprof and returns a markdown section with the profile's
// top 20 without the load generator's goroutines (label side=client).
func (b *bench) startProfile(name string) (stop func() (string, error), err error) {
	dir := b.opts.profileDir
	if dir == "" {
		return func() (string, error) { return "", nil }, nil
	}
	path := filepath.Join(dir, name+".pprof")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() (string, error) {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return "", err
		}
		return b.top(dir, name, "CPU profile: "+name+" (server side)", path,
			[]string{"-tagignore=side=client", "-flat"}, []string{"-tagignore=side=client", "-cum"})
	}, nil
}

// heapProfile writes <dir>/<name>.heap.pprof (after a GC, so in-use is
// live memory) when -profile is set, and returns its top 20 without the
// load generator's allocations (gorilla/websocket and package main).
func (b *bench) heapProfile(name string) (string, error) {
	dir := b.opts.profileDir
	if dir == "" {
		return "", nil
	}
	path := filepath.Join(dir, name+".heap.pprof")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	runtime.GC()
	if err := errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close()); err != nil {
		return "", err
	}
	ignore := `-ignore=gorilla/websocket|^main\.`
	top, err := b.top(dir, name+".heap", "heap profile: "+name+" (in use, server side)", path,
		[]string{"-sample_index=inuse_space", ignore, "-flat"}, []string{"-sample_index=inuse_space", ignore, "-cum"})
	if err != nil {
		return "", err
	}
	return top + "\n" + goroutineGroups(minGroup), nil
}

// minGroup: goroutine groups smaller than this are left out.
const minGroup = 100

// goroutineGroups lists the goroutines of this process by the first
// function of ours or of a library that each is parked in, largest
// groups first: what every idle subscriber costs in goroutines.
func goroutineGroups(least int) string {
	var buf strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	counts := map[string]int{}
	var n int
	for line := range strings.Lines(buf.String()) {
		line = strings.TrimSpace(line)
		if count, rest, ok := strings.Cut(line, " @ "); ok && rest != "" {
			n, _ = strconv.Atoi(count)
			continue
		}
		f := strings.Fields(line) // "#", pc, function+offset, file:line
		if n == 0 || len(f) < 4 || f[0] != "#" {
			continue
		}
		fn := f[2]
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "sync.") ||
			strings.HasPrefix(fn, "time.") || strings.HasPrefix(fn, "net.") || strings.HasPrefix(fn, "io.") ||
			strings.HasPrefix(fn, "bufio.") || strings.HasPrefix(fn, "syscall.") || strings.HasPrefix(fn, "crypto/") {
			continue
		}
		counts[fn] += n
		n = 0
	}
	keys := make([]string, 0, len(counts))
	for k, c := range counts {
		if c >= least {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	var sb strings.Builder
	fmt.Fprintf(&sb, "### goroutines by where they wait (groups of %d or more; the load generator's are `main.` and gorilla's)\n\n| goroutines | first frame outside the runtime and standard I/O |\n|---|---|\n", least)
	for _, k := range keys {
		fmt.Fprintf(&sb, "| %d | `%s` |\n", counts[k], k)
	}
	return sb.String()
}

// top runs `go tool pprof -top -nodecount=20` with each set of options,
// keeps the result in <dir>/<name>.top.md and returns it.
func (b *bench) top(dir, name, title, path string, views ...[]string) (string, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "### %s: `%s`\n", title, path)
	for _, opts := range views {
		args := append(append([]string{"tool", "pprof", "-top", "-nodecount=20"}, opts...), path)
		out, err := b.command(context.Background(), "", "go", args...)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "\n`go %s`\n\n```\n%s```\n", strings.Join(args, " "), out)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".top.md"), []byte(sb.String()), 0o644); err != nil {
		return "", err
	}
	return sb.String(), nil
}
