package servertest

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// StripeMock starts stripe-mock (github.com/stripe/stripe-mock, pinned as
// a Go tool in go.mod) for one test and returns its base URL,
// http://127.0.0.1:PORT, for STRIPE_API_BASE. The binary is built once
// per test process; each test gets its own process, killed when the test
// ends. stripe-mock is stateless: it answers every call with its fixtures
// after validating the request against Stripe's OpenAPI spec.
func StripeMock(t testing.TB) string {
	t.Helper()
	bin := stripeMockBinary(t)

	// Port 0 for both listeners: the kernel picks free ports, and we read
	// the HTTP one from stripe-mock's startup line, so two test processes
	// can never race for the same port. (stripe-mock opens its HTTPS
	// listener on 12112 unless told otherwise.)
	out := &addrWriter{prefix: "Listening for HTTP at address: ", addr: make(chan string, 1)}
	var stderr SyncBuffer
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	var addr string
	select {
	case addr = <-out.addr:
	case <-exited:
		t.Fatalf("stripe-mock exited before listening: %v\nstdout:\n%s\nstderr:\n%s", waitErr, out.String(), stderr.String())
	case <-deadline.C:
		t.Fatalf("stripe-mock did not start listening within 20s\nstdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	}
	base := "http://" + addr

	// It prints the line once listening; make sure it also answers.
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		status, err := stripeMockProbe(client, base)
		if err == nil && status == http.StatusOK {
			return base
		}
		select {
		case <-tick.C:
		case <-exited:
			t.Fatalf("stripe-mock exited: %v\nstdout:\n%s\nstderr:\n%s", waitErr, out.String(), stderr.String())
		case <-deadline.C:
			t.Fatalf("stripe-mock at %s does not answer GET /v1/charges (status %d, err %v)\nstdout:\n%s\nstderr:\n%s",
				base, status, err, out.String(), stderr.String())
		}
	}
}

// StripeEnv configures a test server's environment for the Stripe gateway
// against apiBase (usually StripeMock's URL, or an httptest server that
// answers like Stripe).
func StripeEnv(env map[string]string, apiBase string) {
	env["STRIPE_SECRET_KEY"] = StripeTestSecretKey
	env["STRIPE_PUBLISHABLE_KEY"] = "pk_test_123"
	env["STRIPE_WEBHOOK_SECRET"] = WebhookSecret
	env["STRIPE_API_BASE"] = apiBase
}

// StripeTestSecretKey is the secret key StripeEnv configures; stripe-mock
// accepts any sk_test_ key. Webhooks are signed with WebhookSecret.
const StripeTestSecretKey = "sk_test_123"

var (
	stripeMockOnce sync.Once
	stripeMockPath string
	stripeMockErr  error
)

// stripeMockBinary builds stripe-mock once per test process. `go tool -n`
// builds the tool pinned in go.mod into Go's build cache (shared by every
// test process and run, so only the first build costs anything) and
// prints its path; nothing is left behind in temporary directories.
func stripeMockBinary(t testing.TB) string {
	t.Helper()
	stripeMockOnce.Do(func() {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command("go", "tool", "-n", "github.com/stripe/stripe-mock")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			stripeMockErr = fmt.Errorf("go tool -n github.com/stripe/stripe-mock: %v\n%s", err, stderr.String())
			return
		}
		stripeMockPath = strings.TrimSpace(stdout.String())
		if stripeMockPath == "" || strings.ContainsAny(stripeMockPath, "\n") {
			stripeMockErr = fmt.Errorf("go tool -n github.com/stripe/stripe-mock printed %q, want one path", stdout.String())
		}
	})
	if stripeMockErr != nil {
		t.Fatalf("build stripe-mock: %v", stripeMockErr)
	}
	return stripeMockPath
}

func stripeMockProbe(c *http.Client, base string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/v1/charges", nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(StripeTestSecretKey, "")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// addrWriter keeps stripe-mock's output and reports the address from the
// first line that starts with prefix.
type addrWriter struct {
	prefix string
	addr   chan string

	mu   sync.Mutex
	buf  bytes.Buffer
	sent bool
}

func (w *addrWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
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

func (w *addrWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
