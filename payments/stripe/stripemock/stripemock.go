// Package stripemock starts stripe-mock (github.com/stripe/stripe-mock,
// pinned as a Go tool in go.mod) for the test harness and the load
// generator. stripe-mock is stateless: it answers every call with its
// fixtures after validating the request against Stripe's OpenAPI spec.
package stripemock

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// SecretKey is a key stripe-mock accepts (any sk_test_ key is).
const SecretKey = "sk_test_123"

// Options say how to start it.
type Options struct {
	// Dir is where `go tool` runs: inside the module ("": the working
	// directory).
	Dir string
	// Timeout bounds the wait for it to listen and answer.
	Timeout time.Duration
	// Configure, when set, adjusts the command before it starts (say, to
	// have it killed with its parent).
	Configure func(*exec.Cmd)
}

// Mock is a running stripe-mock.
type Mock struct {
	// URL is its base URL, http://127.0.0.1:PORT, for STRIPE_API_BASE.
	URL string

	cmd     *exec.Cmd
	out     *output
	exited  chan struct{}
	waitErr error
}

// Start builds stripe-mock (once per process) and starts it on a port of
// the kernel's choosing, and returns once it answers. Close stops it.
func Start(ctx context.Context, o Options) (*Mock, error) {
	bin, err := binary(ctx, o.Dir)
	if err != nil {
		return nil, err
	}
	// Port 0 for both listeners: the kernel picks free ports, and the HTTP
	// one is read from stripe-mock's startup line, so two processes can
	// never race for the same port. (stripe-mock opens its HTTPS listener
	// on 12112 unless told otherwise.)
	out := &output{prefix: "Listening for HTTP at address: ", addr: make(chan string, 1)}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = out, out
	if o.Configure != nil {
		o.Configure(cmd)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start stripe-mock: %w", err)
	}
	m := &Mock{cmd: cmd, out: out, exited: make(chan struct{})}
	go func() { m.waitErr = cmd.Wait(); close(m.exited) }()
	if err := m.awaitReady(ctx, o.Timeout); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// awaitReady waits for the startup line, then for an answer: it prints
// the line once listening, which is not quite answering.
func (m *Mock) awaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case addr := <-m.out.addr:
		m.URL = "http://" + addr
	case <-m.exited:
		return fmt.Errorf("stripe-mock exited before listening: %v\noutput:\n%s", m.waitErr, m.out)
	case <-deadline.C:
		return fmt.Errorf("stripe-mock did not start listening within %s\noutput:\n%s", timeout, m.out)
	case <-ctx.Done():
		return fmt.Errorf("start stripe-mock: %w", ctx.Err())
	}
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		status, err := probe(ctx, client, m.URL)
		if err == nil && status == http.StatusOK {
			return nil
		}
		select {
		case <-tick.C:
		case <-m.exited:
			return fmt.Errorf("stripe-mock exited: %v\noutput:\n%s", m.waitErr, m.out)
		case <-deadline.C:
			return fmt.Errorf("stripe-mock at %s does not answer GET /v1/charges (status %d, err %v)\noutput:\n%s", m.URL, status, err, m.out)
		case <-ctx.Done():
			return fmt.Errorf("start stripe-mock: %w", ctx.Err())
		}
	}
}

// Close kills the process (it holds no state worth a clean exit) and
// waits for it.
func (m *Mock) Close() {
	_ = m.cmd.Process.Kill()
	<-m.exited
}

func probe(ctx context.Context, c *http.Client, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/charges", nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(SecretKey, "")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

var build struct {
	once sync.Once
	path string
	err  error
}

// binary builds stripe-mock once per process. `go tool -n` builds the
// tool pinned in go.mod into Go's build cache (shared by every process
// and run, so only the first build costs anything) and prints its path;
// nothing is left behind in temporary directories.
func binary(ctx context.Context, dir string) (string, error) {
	build.once.Do(func() {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "go", "tool", "-n", "github.com/stripe/stripe-mock")
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			build.err = fmt.Errorf("build stripe-mock: go tool -n github.com/stripe/stripe-mock: %w\n%s", err, stderr.String())
			return
		}
		build.path = strings.TrimSpace(stdout.String())
		if build.path == "" || strings.ContainsAny(build.path, "\n") {
			build.err = fmt.Errorf("build stripe-mock: go tool -n github.com/stripe/stripe-mock printed %q, want one path", stdout.String())
		}
	})
	return build.path, build.err
}

// maxOutput is how much of stripe-mock's output is kept for error
// messages: its startup, not the line it logs for every request.
const maxOutput = 64 << 10

// output keeps the start of stripe-mock's output and reports the address
// from the first line that starts with prefix.
type output struct {
	prefix string
	addr   chan string

	mu   sync.Mutex
	buf  bytes.Buffer
	sent bool
}

func (w *output) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := maxOutput - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	if !w.sent {
		for line := range strings.Lines(w.buf.String()) {
			if rest, ok := strings.CutPrefix(line, w.prefix); ok && strings.HasSuffix(line, "\n") {
				w.addr <- strings.TrimSpace(rest)
				w.sent = true
				break
			}
		}
	}
	return len(p), nil
}

func (w *output) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
