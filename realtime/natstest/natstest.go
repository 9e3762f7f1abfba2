// Package natstest gives tests a NATS server: the machine's (on
// TEST_NATS_URL, else 127.0.0.1:4222), shared by every test, or one of the
// test's own, started from the nats-server binary, that the test may stop
// and start again. Where no NATS answers, or no nats-server is installed,
// the tests that need one are skipped with a clear message, except under
// CI=true, where they fail.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultURL is the server used when TEST_NATS_URL is unset.
const DefaultURL = "nats://127.0.0.1:4222"

// URL is the shared NATS server the tests use.
func URL() string {
	if u := os.Getenv("TEST_NATS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Ping connects to the NATS server at url and says whether it answered.
func Ping(url string) error {
	conn, err := nats.Connect(url, nats.Name("jobsphere-test-probe"), nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.FlushTimeout(2 * time.Second)
}

// redacted is url without its password, fit for a message.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

var (
	pingOnce sync.Once
	pingErr  error
)

// Require skips (or, in CI, fails) the test when the shared NATS server
// does not answer, and returns its URL.
func Require(t testing.TB) string {
	t.Helper()
	pingOnce.Do(func() { pingErr = Ping(URL()) })
	if pingErr != nil {
		unavailable(t, fmt.Sprintf("NATS is not reachable at %s (set TEST_NATS_URL): %v", redacted(URL()), pingErr))
	}
	return URL()
}

func unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " — NATS is mandatory in CI")
	}
	t.Skip(msg + " — the tests that need NATS are skipped here")
}

// Server is a nats-server process of one test's own, on a port of its own;
// it is stopped when the test ends.
type Server struct {
	URL  string
	t    testing.TB
	bin  string
	port int
	// exited is closed when the running process has exited; nil when
	// stopped.
	exited chan struct{}
	proc   *os.Process
}

// Start runs a fresh nats-server on a free port of 127.0.0.1 and returns
// once it accepts connections. Without a nats-server binary (on PATH or
// at /usr/sbin/nats-server) the test is skipped, or in CI fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/nats-server")
	}
	if err != nil {
		unavailable(t, "no nats-server binary on PATH or at /usr/sbin/nats-server (Debian's package nats-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{URL: "nats://127.0.0.1:" + strconv.Itoa(port), t: t, bin: bin, port: port}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Stop kills the server, as a crash would, and waits for it to exit.
func (s *Server) Stop() {
	if s.exited == nil {
		return
	}
	_ = s.proc.Kill()
	<-s.exited
	s.exited, s.proc = nil, nil
}

// Restart starts the server again, on the same port, after Stop, and
// returns once it accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	if s.exited != nil {
		s.t.Fatal("natstest: Restart of a running server")
	}
	cmd := exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port))
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start nats-server: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	s.exited, s.proc = exited, cmd.Process
	deadline := time.Now().Add(10 * time.Second)
	for Ping(s.URL) != nil {
		select {
		case <-exited:
			s.exited, s.proc = nil, nil
			s.t.Fatalf("nats-server on port %d exited at start: %v", s.port, waitErr)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server on port %d not answering after 10s", s.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
