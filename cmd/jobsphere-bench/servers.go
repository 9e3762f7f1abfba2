package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverEnv is the environment of a server on dbURL (PostgreSQL; empty:
// SQLite in its data directory), Stripe mode against stripe-mock with the
// bench's own webhook secret, cheap password hashing, release approval on.
func (b *bench) serverEnv(ctx context.Context, dbURL, name string) (map[string]string, error) {
	stripeURL, err := b.stripeMock(ctx)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(b.work, name+"-data")
	env := map[string]string{
		"APP_ENV":                  "development",
		"DATABASE_URL":             dbURL,
		"DATA_DIR":                 dataDir,
		"AUTO_MIGRATE":             "true",
		"BCRYPT_COST":              "4",
		"JWT_SECRET":               b.jwtSecret,
		"ACCESS_TOKEN_TTL":         "12h", // websockets close when their token expires
		"REQUIRE_RELEASE_APPROVAL": "true",
		"TRUSTED_PROXY_HOPS":       "1", // the bench sends each user's sign-up from its own X-Forwarded-For address
		"LOG_LEVEL":                "info",
		"LOG_FORMAT":               "json",
		"SHUTDOWN_TIMEOUT":         "10s",
		"GRAPHIQL":                 "false",
		"STRIPE_SECRET_KEY":        "sk_test_bench",
		"STRIPE_PUBLISHABLE_KEY":   "pk_test_bench",
		"STRIPE_WEBHOOK_SECRET":    b.webhookSecret,
		"STRIPE_API_BASE":          stripeURL,
	}
	// The fan-out's subscribers come from one or two addresses.
	env["WEBSOCKET_LIMIT_PER_ADDRESS"] = "0"
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v := b.getenv(k); v != "" {
			env[k] = v
		}
	}
	for k, v := range b.opts.serverEnv {
		env[k] = v
	}
	return env, nil
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// target is a running server.
type target struct {
	name    string
	url     string
	pid     int // for RSS; the bench's own when in-process
	env     map[string]string
	logPath string
	stop    func()
	// started is when the process was started (cold start).
	started time.Time
	ready   time.Time
}

// startServer runs `jobsphere serve` with env on a free port and waits
// for /readyz; the server is stopped at close if not before. A port taken
// between freePort and the server's listen (by an outgoing connection of
// a busy machine) is tried again on another.
func (b *bench) startServer(ctx context.Context, name string, env map[string]string) (*target, error) {
	for attempt := 1; ; attempt++ {
		t, err := b.startServerOnce(ctx, name, env)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return t, err
		}
		b.logf("%s: its port was taken meanwhile; another", name)
	}
}

func (b *bench) startServerOnce(ctx context.Context, name string, env map[string]string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	env["PORT"] = strconv.Itoa(port)
	env["PUBLIC_URL"] = "http://127.0.0.1:" + env["PORT"]
	logPath := filepath.Join(b.work, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.bin, "serve")
	cmd.Env = envList(env)
	cmd.Stdout, cmd.Stderr = logf, logf
	setDeathSignal(cmd)
	t := &target{name: name, url: env["PUBLIC_URL"], env: env, logPath: logPath, started: time.Now()}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.exited) }()
	var once sync.Once
	t.pid = cmd.Process.Pid
	t.stop = func() { once.Do(func() { p.stop(20 * time.Second) }) }
	b.defer_(t.stop)
	if err := waitReady(ctx, t, p.exited); err != nil {
		t.stop()
		return nil, fmt.Errorf("%s: %w (log %s:\n%s)", name, err, logPath, tailFile(logPath, 1500))
	}
	return t, nil
}

// waitReady polls /readyz until it answers 200.
func waitReady(ctx context.Context, t *target, exited <-chan struct{}) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.url+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.ready = time.Now()
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("server exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("not ready after 2 minutes")
		}
	}
}

// admin makes an admin the way an operator does (`jobsphere admin
// create`) on the target's database.
func (b *bench) createAdmin(ctx context.Context, t *target, email, password string) error {
	_, err := b.commandEnv(ctx, b.repo, envList(t.env), b.bin, "admin", "create", "--email", email, "--password", password, "--name", "Bench Admin")
	return err
}

// ledgerVerify runs `jobsphere ledger verify` on the target's database.
func (b *bench) ledgerVerify(ctx context.Context, t *target) error {
	_, err := b.commandEnv(ctx, b.repo, envList(t.env), b.bin, "ledger", "verify")
	return err
}

// proc is a child process.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// phaseEnv makes a phase its database and server environment.
func (b *bench) phaseEnv(ctx context.Context, tag string) (map[string]string, error) {
	dbURL, err := b.createDatabase(ctx, tag)
	if err != nil {
		return nil, err
	}
	return b.serverEnv(ctx, dbURL, tag)
}

// phaseServer starts a server on a fresh database for a phase; see start.
func (b *bench) phaseServer(ctx context.Context, tag string, profiled bool) (*target, error) {
	env, err := b.phaseEnv(ctx, tag)
	if err != nil {
		return nil, err
	}
	return b.start(ctx, tag, env, profiled)
}
