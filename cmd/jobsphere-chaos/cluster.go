package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// cluster runs the `jobsphere serve` processes on one database: each on
// its own port (kept across restarts), all with the same configuration
// but for the approval settings, which alternate.
type cluster struct {
	bin    string
	env    []string // shared by every process and the CLI commands
	logDir string
	// stripeBase is the fake Stripe for the CLI commands (sweep): no
	// caller prefix, so the fake never kills them.
	stripeBase string
	procs      []*proc

	restarts atomic.Int32 // restarts of killed callers under way

	mu       sync.Mutex
	stopping bool
	kills    int      // by the timer
	targeted int      // of a process in the middle of a Stripe call
	crashes  []string // exits nobody asked for
	stops    []string // graceful stops that did not exit 0
	slowest  time.Duration
}

type proc struct {
	idx  int
	port int
	url  string
	env  []string

	life sync.Mutex // one kill, start or restart of the process at a time

	mu       sync.Mutex
	cmd      *exec.Cmd
	up       bool
	expected bool // the coming exit was asked for
	starting bool // started, not ready yet: an exit now is start's to report
	exited   chan struct{}
	exitErr  error
	starts   int
}

// approvals of process i: (REQUIRE_RELEASE_APPROVAL, REQUIRE_WITHDRAWAL_APPROVAL).
func approvals(i int) (release, withdrawal bool) {
	return i%2 == 0, i%4 == 1 || i%4 == 2
}

// newCluster prepares n processes; stripeBase is the fake Stripe, which
// each process calls under its own path (/proc/i) so Stripe knows who
// called. All share one PUBLIC_URL, as replicas behind a load balancer do.
func newCluster(bin, logDir string, env []string, n int, stripeBase string) (*cluster, error) {
	c := &cluster{bin: bin, env: env, logDir: logDir, stripeBase: stripeBase}
	public := ""
	for i := range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		release, withdrawal := approvals(i)
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		if public == "" {
			public = url
		}
		p := &proc{idx: i, port: port, url: url, env: append(append([]string(nil), env...),
			"PORT="+strconv.Itoa(port), "PUBLIC_URL="+public, "STRIPE_API_BASE="+stripeBase+callerPrefix+strconv.Itoa(i),
			"REQUIRE_RELEASE_APPROVAL="+strconv.FormatBool(release),
			"REQUIRE_WITHDRAWAL_APPROVAL="+strconv.FormatBool(withdrawal),
			"DATA_DIR="+filepath.Join(logDir, fmt.Sprintf("data-%d", i)))}
		c.procs = append(c.procs, p)
	}
	return c, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// command runs a one-shot CLI command (migrate, admin create, sweep,
// ledger verify) with the cluster's configuration and returns its output.
func (c *cluster) command(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(append([]string(nil), c.env...), "DATA_DIR="+filepath.Join(c.logDir, "data-cli"), "LOG_LEVEL=warn",
		"STRIPE_API_BASE="+c.stripeBase)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// start launches p and waits until it answers /readyz. A start that
// finds p's port taken — by an outgoing connection's ephemeral port,
// while p was down — is tried again until the port is free.
func (c *cluster) start(ctx context.Context, p *proc) error {
	for attempt := 0; ; attempt++ {
		err := c.startOnce(ctx, p)
		if !errors.Is(err, errPortTaken) || attempt == 50 {
			if err != nil && ctx.Err() == nil {
				c.mu.Lock()
				c.crashes = append(c.crashes, err.Error())
				c.mu.Unlock()
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var errPortTaken = errors.New("its port is taken")

func (c *cluster) startOnce(ctx context.Context, p *proc) error {
	logFile, err := os.OpenFile(filepath.Join(c.logDir, fmt.Sprintf("serve-%d.log", p.idx)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.bin, "serve")
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited, p.expected, p.exitErr, p.starting = cmd, exited, false, nil, true
	p.starts++
	p.mu.Unlock()
	go c.watch(ctx, p, cmd, exited, logFile)

	began := time.Now()
	client := &http.Client{Timeout: time.Second}
	deadline := time.After(60 * time.Second)
	for {
		resp, err := client.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.mu.Lock()
				select {
				case <-exited:
				default:
					p.up = p.cmd == cmd
				}
				p.starting = false
				p.mu.Unlock()
				c.mu.Lock()
				c.slowest = max(c.slowest, time.Since(began))
				c.mu.Unlock()
				return nil
			}
		}
		select {
		case <-exited:
			log := tail(logFile.Name(), 10)
			if strings.Contains(log, "address already in use") {
				return fmt.Errorf("process %d: %w", p.idx, errPortTaken)
			}
			return fmt.Errorf("process %d exited before it was ready: %v; its log ends:\n%s", p.idx, p.exitErr, log)
		case <-deadline:
			return fmt.Errorf("process %d not ready after 60s (log %s)", p.idx, logFile.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// watch waits for a process to end; an exit nobody asked for is a crash,
// recorded with the end of its log, and the process is started again.
func (c *cluster) watch(ctx context.Context, p *proc, cmd *exec.Cmd, exited chan struct{}, logFile *os.File) {
	err := cmd.Wait()
	logFile.Close()
	p.mu.Lock()
	p.up, p.exitErr = false, err
	expected := p.expected || p.starting // an exit while starting is start's to report
	p.starting = false
	close(exited) // under the lock: start never marks a dead process up
	p.mu.Unlock()
	c.mu.Lock()
	stopping := c.stopping
	if !expected {
		c.crashes = append(c.crashes, fmt.Sprintf("process %d exited on its own (%v); its log ends:\n%s", p.idx, err, tail(logFile.Name(), 15)))
	}
	c.mu.Unlock()
	if !expected && !stopping && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		p.life.Lock()
		defer p.life.Unlock()
		if !c.isStopping() {
			_ = c.start(ctx, p)
		}
	}
}

func (c *cluster) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// restart SIGKILLs p, says so on killed (if not nil), and starts it again.
func (c *cluster) restart(ctx context.Context, p *proc, targeted bool, killed chan<- struct{}) error {
	p.life.Lock()
	defer p.life.Unlock()
	_ = c.signal(p, syscall.SIGKILL)
	c.mu.Lock()
	if targeted {
		c.targeted++
	} else {
		c.kills++
	}
	stopping := c.stopping
	c.mu.Unlock()
	if killed != nil {
		close(killed)
	}
	if stopping {
		return nil
	}
	return c.start(ctx, p)
}

// killCaller kills process i now and restarts it in the background; the
// channel closes once it is dead.
func (c *cluster) killCaller(ctx context.Context, i int, logf func(string, ...any)) <-chan struct{} {
	killed := make(chan struct{})
	if i >= len(c.procs) {
		close(killed)
		return killed
	}
	c.restarts.Add(1)
	go func() {
		defer c.restarts.Add(-1)
		if err := c.restart(ctx, c.procs[i], true, killed); err != nil && ctx.Err() == nil {
			logf("restart of process %d failed: %v", i, err)
		}
	}()
	return killed
}

// startAll starts every process.
func (c *cluster) startAll(ctx context.Context) error {
	errs := make(chan error, len(c.procs))
	for _, p := range c.procs {
		go func() { errs <- c.start(ctx, p) }()
	}
	var all []error
	for range c.procs {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// pick returns a random live process, or nil when none is up.
func (c *cluster) pick(intN func(int) int) *proc {
	var up []*proc
	for _, p := range c.procs {
		p.mu.Lock()
		if p.up {
			up = append(up, p)
		}
		p.mu.Unlock()
	}
	if len(up) == 0 {
		return nil
	}
	return up[intN(len(up))]
}

// signal sends sig to p and waits for it to exit; the exit is expected.
func (c *cluster) signal(p *proc, sig syscall.Signal) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	if cmd == nil || exited == nil {
		p.mu.Unlock()
		return nil
	}
	p.expected, p.up = true, false
	p.mu.Unlock()
	select {
	case <-exited:
		return nil // already gone
	default:
	}
	_ = cmd.Process.Signal(sig)
	<-exited
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// chaos SIGKILLs a random process every interval and starts it again at
// once, until ctx ends.
func (c *cluster) chaos(ctx context.Context, interval time.Duration, intN func(int) int, logf func(string, ...any)) {
	every(ctx, interval, func() {
		p := c.procs[intN(len(c.procs))]
		if err := c.restart(ctx, p, false, nil); err != nil && ctx.Err() == nil {
			logf("restart of process %d failed: %v", p.idx, err)
		}
	})
}

// ensureUp waits for restarts under way and starts every process that is
// down.
func (c *cluster) ensureUp(ctx context.Context) error {
	for c.restarts.Load() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	var errs []error
	for _, p := range c.procs {
		p.life.Lock()
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			errs = append(errs, c.start(ctx, p))
		}
		p.life.Unlock()
	}
	return errors.Join(errs...)
}

// stopAll stops every process with SIGTERM, as an orchestrator would; a
// process that does not exit 0 is recorded.
func (c *cluster) stopAll() {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range c.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.signal(p, syscall.SIGTERM); err != nil {
				c.mu.Lock()
				c.stops = append(c.stops, fmt.Sprintf("process %d: SIGTERM ended it with %v", p.idx, err))
				c.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// killAll ends whatever still runs (on the way out after an error).
func (c *cluster) killAll() {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	for _, p := range c.procs {
		_ = c.signal(p, syscall.SIGKILL)
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log)"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return "  " + strings.Join(lines, "\n  ")
}
