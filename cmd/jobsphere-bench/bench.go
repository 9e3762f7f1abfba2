package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver
)

// bench is one run: its work directory, the binaries it built, the
// processes and databases it made (all undone by close).
type bench struct {
	opts   *options
	getenv func(string) string
	runID  string
	work   string  // temporary directory: binaries, logs, data dirs
	admin  *sql.DB // the administrative database databases are made from
	repo   string  // the module root
	bin    string  // the jobsphere binary

	jwtSecret     string
	webhookSecret string

	costs *costs // what each operation costs the server, from the phases

	mu        sync.Mutex
	cleanups  []func() // run in reverse at close
	stripeURL string
}

func newBench(ctx context.Context, o *options, getenv func(string) string) (*bench, error) {
	b := &bench{opts: o, getenv: getenv, runID: randomName(8), jwtSecret: randomName(64), webhookSecret: "whsec_bench_" + randomName(32)}
	if limit, err := raiseFileLimit(uint64(2*o.subscribers + 4096)); err != nil {
		b.logf("could not raise the open-file limit (now %d): %v", limit, err)
	}
	ok := false
	defer func() {
		if !ok {
			b.close()
		}
	}()
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return nil, err
		}
	}
	work, err := os.MkdirTemp("", "jobsphere-bench-")
	if err != nil {
		return nil, err
	}
	b.work = work
	b.defer_(func() {
		if o.keep {
			b.logf("kept work directory %s", work)
			return
		}
		os.RemoveAll(work)
	})

	b.admin, err = sql.Open("postgres", o.databaseURL)
	if err != nil {
		return nil, err
	}
	b.defer_(func() { b.admin.Close() })
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.admin.PingContext(pingCtx); err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s (set BENCH_DATABASE_URL or TEST_DATABASE_URL): %w", redact(o.databaseURL), err)
	}

	out, err := b.command(ctx, "", "go", "env", "GOMOD")
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	if gomod := strings.TrimSpace(out); gomod == "" || gomod == os.DevNull {
		return nil, errors.New("run jobsphere-bench inside the jobsphere module (go env GOMOD is empty)")
	} else {
		b.repo = filepath.Dir(gomod)
	}
	b.bin = o.bin
	if b.bin == "" {
		b.bin = filepath.Join(work, "jobsphere")
		b.logf("building ./cmd/jobsphere")
		if _, err := b.command(ctx, b.repo, "go", "build", "-o", b.bin, "./cmd/jobsphere"); err != nil {
			return nil, fmt.Errorf("build the server: %w", err)
		}
	}
	ok = true
	return b, nil
}

// logf reports progress on stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.opts.progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// defer_ registers an undo step for close.
func (b *bench) defer_(fn func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, fn)
}

// close undoes everything, last made first.
func (b *bench) close() {
	b.mu.Lock()
	c := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// command runs a program to completion and returns its stdout; the error
// carries stderr.
func (b *bench) command(ctx context.Context, dir, name string, args ...string) (string, error) {
	return b.commandEnv(ctx, dir, nil, name, args...)
}

func (b *bench) commandEnv(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	setDeathSignal(cmd)
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, tail(stdout.String(), 2000), tail(stderr.String(), 2000))
	}
	return stdout.String(), nil
}

// randomName is n lower-case random letters and digits, fit for database
// names and secrets.
func randomName(n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(strings.ToLower(rand.Text())) // 128 random bits a call
	}
	return sb.String()[:n]
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func tailFile(path string, n int) string {
	raw, _ := os.ReadFile(path)
	return tail(string(raw), n)
}

// cpuWindow starts measuring the machine's CPU; its stop says where it
// went: to the server, PostgreSQL, NATS (when it did any work), the load
// generator, and to processes not of this run, which would skew what was
// measured meanwhile (the machine may be shared).
func (b *bench) cpuWindow() (stop func() string) {
	a := takeCPU("jobsphere_bench_"+b.runID, b.bin)
	return func() string {
		use := cpuUse(a, takeCPU("jobsphere_bench_"+b.runID, b.bin))
		if use == nil {
			return "?"
		}
		var parts []string
		for _, k := range []string{"server", "PostgreSQL", "NATS", "load generator", "tools", "others"} {
			if v, ok := use[k]; ok && (k != "NATS" || v >= 0.005) { // the machine's NATS, idle unless -broker nats
				if k == "load generator" && b.opts.profileDir != "" {
					k = "load generator and in-process server"
				}
				parts = append(parts, fmt.Sprintf("%s %.2f", k, v))
			}
		}
		return fmt.Sprintf("%s (of %d CPUs; busy %.2f)", strings.Join(parts, ", "), runtime.NumCPU(), use["busy"])
	}
}

// waitQuiet waits, when -quiet is set, until processes not of this run
// use at most -quiet CPUs over three seconds, or -quiet-wait has passed.
func (b *bench) waitQuiet(ctx context.Context) {
	if b.opts.quiet <= 0 {
		return
	}
	deadline := time.Now().Add(b.opts.quietWait)
	for ctx.Err() == nil {
		a := takeCPU("jobsphere_bench_"+b.runID, b.bin)
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Second):
		}
		others := cpuUse(a, takeCPU("jobsphere_bench_"+b.runID, b.bin))["others"]
		if others <= b.opts.quiet {
			return
		}
		if time.Now().After(deadline) {
			b.logf("other processes still use %.2f CPUs; measuring anyway", others)
			return
		}
		b.logf("other processes use %.2f CPUs; waiting for a quieter moment", others)
	}
}
