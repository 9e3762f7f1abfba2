package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/jobsphere/jobsphere/graph/generated"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestServeWithNoConfiguration is `make run` on a fresh clone: no
// variables but a data dir and a free port, GraphiQL at /, GraphQL working,
// text logs, and a clean shutdown that closes websockets.
func TestServeWithNoConfiguration(t *testing.T) {
	env := map[string]string{"DATA_DIR": t.TempDir(), "PORT": "0"}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	logs := &servertest.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"jobsphere", "serve"}, getenv(env), logs, io.Discard) }()
	base := waitListening(t, logs, done)

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "GraphiQL") {
		t.Fatalf("GET /: %d %.200s", resp.StatusCode, page)
	}
	resp, err = http.Post(base+"/graphql", "application/json", strings.NewReader(`{"query":"{ __typename }"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"__typename":"Query"`) {
		t.Fatalf("POST /graphql: %s", body)
	}

	// An open websocket is closed by the server at shutdown.
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/graphql",
		http.Header{"Sec-WebSocket-Protocol": {servertest.TransportWS}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"type": "connection_init"}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if err := conn.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}

	// Ctrl-C (main cancels the context on SIGINT and SIGTERM): a graceful
	// shutdown, and exit status 0, which `make run` passes on.
	stop()
	select {
	case err := <-done:
		if err != nil || exitStatus(err) != 0 {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var msg map[string]any
		if err := conn.ReadJSON(&msg); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				t.Fatalf("websocket ended without a close frame: %v", err)
			}
			break
		}
	}
	// Text logs: APP_ENV is not production.
	if !strings.Contains(logs.String(), " level=INFO msg=stopped") {
		t.Fatalf("no shutdown log in text:\n%s", logs)
	}
}

// TestServeMetricsAddress: with METRICS_ADDR, serve answers /metrics
// there and not on the API's address.
func TestServeMetricsAddress(t *testing.T) {
	env := map[string]string{"DATA_DIR": t.TempDir(), "PORT": "0", "METRICS_ADDR": "127.0.0.1:0", "LOG_FORMAT": "json"}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	logs := &servertest.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"jobsphere", "serve"}, getenv(env), logs, io.Discard) }()
	base := waitListening(t, logs, done)
	if !strings.Contains(logs.String(), `"msg":"metrics listening"`) {
		t.Fatalf("LOG_FORMAT=json, but:\n%s", logs)
	}
	metricsAddr := findLog(logs.String(), "metrics listening")["addr"]
	for url, want := range map[string]int{"http://" + metricsAddr + "/metrics": http.StatusOK, base + "/metrics": http.StatusNotFound} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", url, resp.StatusCode, want)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

func waitListening(t *testing.T, logs *servertest.SyncBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, logs)
		default:
		}
		if line := findLog(logs.String(), "listening"); line != nil {
			_, port, err := net.SplitHostPort(line["addr"])
			if err != nil {
				t.Fatal(err)
			}
			return "http://127.0.0.1:" + port
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server never said it was listening:\n%s", logs)
	return ""
}

// textAttr is one key=value of slog's text format; the value may be quoted.
var textAttr = regexp.MustCompile(`([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)`)

// findLog returns the attributes of the first log line whose message is
// msg, in slog's JSON or text format; nil when there is none.
func findLog(logs, msg string) map[string]string {
	for _, line := range strings.Split(logs, "\n") {
		attrs := map[string]string{}
		var obj map[string]any
		if json.Unmarshal([]byte(line), &obj) == nil {
			for k, v := range obj {
				attrs[k] = fmt.Sprint(v)
			}
		} else {
			for _, m := range textAttr.FindAllStringSubmatch(line, -1) {
				if v, err := strconv.Unquote(m[2]); err == nil {
					m[2] = v
				}
				attrs[m[1]] = m[2]
			}
		}
		if attrs["msg"] == msg {
			return attrs
		}
	}
	return nil
}

func TestAdminCreate(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		out := &servertest.SyncBuffer{}
		args := []string{"jobsphere", "admin", "create", "--email", "Ops@Example.test", "--password", "Sup3rsecret", "--name", "Ops"}
		if err := run(context.Background(), args, getenv(env), out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "admin created: usr_") {
			t.Fatalf("output: %s", out.String())
		}
		srv := servertest.Start(t, env)
		admin := srv.Login(t, "ops@example.test", "Sup3rsecret")
		if admin.Role != "ADMIN" {
			t.Fatalf("role %s", admin.Role)
		}
		// The creation is in the audit log, the new admin its own actor.
		var log struct {
			AuditLog struct {
				Edges []struct {
					Node struct {
						Actor                   struct{ ID string }
						Action, TargetID, After string
						RequestID               *string
					}
				}
			}
		}
		srv.Client(admin.AccessToken).MustDo(t, `{ auditLog(first: 5) { edges { node { actor { id } action targetId after requestId } } } }`, nil, &log)
		if e := log.AuditLog.Edges; len(e) != 1 || e[0].Node.Action != "CREATE_ADMIN" || e[0].Node.Actor.ID != admin.ID ||
			e[0].Node.TargetID != admin.ID || e[0].Node.After != "ADMIN" || e[0].Node.RequestID != nil {
			t.Fatalf("audit log after admin create: %+v", e)
		}
		// A bad password is refused with the same rule as registration.
		args[len(args)-3] = "weak"
		err := run(context.Background(), args, getenv(env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "Password must be") {
			t.Fatalf("weak admin password: %v", err)
		}
	})
}

func TestCommandLine(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"jobsphere", "version"}, getenv(nil), &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "jobsphere ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	err := run(context.Background(), []string{"jobsphere", "serve"}, getenv(map[string]string{"PORT": "abc", "DATA_DIR": t.TempDir()}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PORT") || exitStatus(err) != 1 {
		t.Fatalf("bad PORT: %v", err)
	}
}

// cli runs jobsphere with args on an environment whose DATA_DIR does not
// exist yet, and returns what it wrote, its exit status and whether it
// read the configuration (which creates DATA_DIR for the JWT secret).
func cli(t *testing.T, args ...string) (stdout, stderr string, status int, configured bool) {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var o, e strings.Builder
	err := run(ctx, append([]string{"jobsphere"}, args...), getenv(map[string]string{"DATA_DIR": dataDir}), &o, &e)
	_, statErr := os.Stat(dataDir)
	return o.String(), e.String(), exitStatus(err), statErr == nil
}

// TestCommandFlags: every command parses its own flags before anything
// else. -h and --help print its usage and do nothing more; an unknown
// flag, a bad value or a stray argument is refused with status 2 and the
// usage, before the configuration is read.
func TestCommandFlags(t *testing.T) {
	for _, c := range commands {
		words := strings.Fields(c.name)
		for _, help := range []string{"-h", "--help"} {
			stdout, stderr, status, configured := cli(t, append(words, help)...)
			if status != 0 || configured || stdout != "" || !strings.HasPrefix(stderr, "usage: jobsphere "+c.name) {
				t.Errorf("%s %s: status %d, configured %v, stdout %q, stderr %q", c.name, help, status, configured, stdout, stderr)
			}
		}
		for _, bad := range [][]string{{"--bogus"}, {"stray"}} {
			_, stderr, status, configured := cli(t, append(words, bad...)...)
			if status != 2 || configured || !strings.Contains(stderr, "usage: jobsphere "+c.name) {
				t.Errorf("%s %v: status %d, configured %v, stderr %q", c.name, bad, status, configured, stderr)
			}
		}
	}
	for _, tt := range []struct {
		args   []string
		status int
		want   string // in the output
	}{
		{[]string{"serve", "--port", "abc"}, 2, `invalid value "abc" for flag -port: must be an integer between 0 and 65535`},
		{[]string{"serve", "--port", "70000"}, 2, "usage: jobsphere serve [--port N] [--foreground]"},
		{[]string{"serve", "--port"}, 2, "flag needs an argument: -port"},
		{[]string{"serve", "stray", "--port", "9999"}, 2, `unexpected argument "stray"`},
		{[]string{"sweep", "--grace", "soon"}, 2, `invalid value "soon" for flag -grace`},
		{[]string{"sweep", "--ahead", "-1h"}, 2, "--ahead -1h0m0s: a duration of 0 or more"},
		{[]string{"admin", "create", "--name", "Ops"}, 2, "admin create: --email and --password are required"},
		{[]string{"ledger"}, 2, `"ledger" needs a subcommand`},
		{[]string{"ledger", "check"}, 2, `unknown command "ledger check"`},
		{[]string{"ledger", "--help"}, 0, "ledger verify"},
		{[]string{"admin", "-h"}, 0, "admin create --email E --password P [--name N]"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"--port", "9999"}, 2, `unknown command "--port"`},
		{[]string{"help", "sweep"}, 0, "usage: jobsphere sweep [--grace 1m] [--ahead 0s]"},
		{[]string{"help", "frobnicate"}, 2, `unknown command "frobnicate"`},
	} {
		stdout, stderr, status, configured := cli(t, tt.args...)
		if status != tt.status || configured || !strings.Contains(stdout+stderr, tt.want) {
			t.Errorf("%v: status %d (want %d), configured %v, output:\n%s%s", tt.args, status, tt.status, configured, stdout, stderr)
		}
	}
}

// TestUsage: jobsphere alone is refused with the list of commands;
// -h, --help and help print it and succeed.
func TestUsage(t *testing.T) {
	_, stderr, status, _ := cli(t)
	if status != 2 || !strings.HasPrefix(stderr, "usage: jobsphere <command>") {
		t.Fatalf("no command: status %d, stderr %q", status, stderr)
	}
	for _, help := range []string{"-h", "--help", "help"} {
		stdout, stderr, status, configured := cli(t, help)
		if status != 0 || configured || stderr != "" {
			t.Fatalf("%s: status %d, configured %v, stderr %q", help, status, configured, stderr)
		}
		for _, c := range commands {
			if !strings.Contains(stdout, "\n  "+c.name) {
				t.Errorf("%s does not list %q:\n%s", help, c.name, stdout)
			}
		}
	}
}

// TestServePortFlag: --port is PORT, and wins over it (here over a PORT
// that would be refused); the links the server hands out follow it.
func TestServePortFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	env := map[string]string{"DATA_DIR": t.TempDir(), "PORT": "abc"}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	logs := &servertest.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"jobsphere", "serve", "--port", port}, getenv(env), logs, io.Discard)
	}()
	base := waitListening(t, logs, done)
	if !strings.HasSuffix(base, ":"+port) || !strings.Contains(logs.String(), "http://localhost:"+port) {
		t.Fatalf("listening on %s, want port %s:\n%s", base, port, logs)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// TestLedgerVerify: the command passes on a consistent ledger and fails,
// naming the problem, when a cached balance disagrees with the postings.
func TestLedgerVerify(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		srv := servertest.Start(t, env)
		u := srv.Register(t, "CUSTOMER")
		srv.Fund(t, u.ID, 12345)

		// The logger writes here too, from the broker's goroutines.
		out := &servertest.SyncBuffer{}
		if err := run(context.Background(), []string{"jobsphere", "ledger", "verify"}, getenv(env), out, io.Discard); err != nil {
			t.Fatalf("verify: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "ledger OK") || !strings.Contains(out.String(), "available 123.45") {
			t.Fatalf("report: %s", out.String())
		}

		// Tamper with the cache behind the ledger's back.
		if _, err := srv.App.DB.Exec("UPDATE wallets SET balance = balance + 1"); err != nil {
			t.Fatal(err)
		}
		out = &servertest.SyncBuffer{}
		err := run(context.Background(), []string{"jobsphere", "ledger", "verify"}, getenv(env), out, io.Discard)
		if err == nil || !strings.Contains(out.String(), "cached balance 12346, postings say 12345") {
			t.Fatalf("tampered ledger: %v\n%s", err, out.String())
		}
	})
}

// TestSweepCommand: `jobsphere sweep` does now what servers do each
// minute; here it expires an overdue offer and gives back its hold.
func TestSweepCommand(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	env["OFFER_TTL"] = "1ms"
	srv := servertest.Start(t, env)
	customer, contractor := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR")
	srv.Fund(t, customer.ID, 20000)
	cc, kc := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken)
	var job struct{ CreateJob struct{ ID string } }
	cc.MustDo(t, `mutation { createJob(input: {title: "Sweep the yard", description: "Leaves everywhere after the storm", budget: "100"}) { id } }`, nil, &job)
	var app struct{ ApplyToJob struct{ ID string } }
	kc.MustDo(t, `mutation($j: ID!) { applyToJob(input: {jobId: $j}) { id } }`, map[string]any{"j": job.CreateJob.ID}, &app)
	cc.MustDo(t, `mutation($a: ID!) { sendOffer(input: {applicationId: $a, amount: "100", timeline: "1 day", description: "Rake and bag the leaves"}) { offer { id } } }`,
		map[string]any{"a": app.ApplyToJob.ID}, nil)

	out := &servertest.SyncBuffer{}
	if err := run(context.Background(), []string{"jobsphere", "sweep", "--grace", "0s"}, getenv(env), out, io.Discard); err != nil {
		t.Fatalf("sweep: %v\n%s", err, out.String())
	}
	if l := findLog(out.String(), "offers expired"); l == nil || l["count"] != "1" {
		t.Fatalf("sweep log: %s", out.String())
	}
	var w struct {
		Wallet struct{ Balance, EscrowBalance string }
	}
	cc.MustDo(t, `{ wallet { balance escrowBalance } }`, nil, &w)
	if w.Wallet.Balance != "200.00" || w.Wallet.EscrowBalance != "0.00" {
		t.Fatalf("after the sweep: %+v", w.Wallet)
	}
	srv.RequireLedgerVerified(t)
}

// TestSweepAhead: `sweep --ahead` sweeps as the servers will later: a
// contractor's dispute left unanswered past DISPUTE_RESPONSE_DAYS is
// settled for the contractor, and nothing before.
func TestSweepAhead(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	env["REQUIRE_RELEASE_APPROVAL"] = "false"
	srv := servertest.Start(t, env)
	customer, contractor := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR")
	srv.Fund(t, customer.ID, 20000)
	cc, kc := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken)
	var job struct{ CreateJob struct{ ID string } }
	cc.MustDo(t, `mutation { createJob(input: {title: "Paint the shed", description: "Two coats, dark green", budget: "100"}) { id } }`, nil, &job)
	var app struct{ ApplyToJob struct{ ID string } }
	kc.MustDo(t, `mutation($j: ID!) { applyToJob(input: {jobId: $j}) { id } }`, map[string]any{"j": job.CreateJob.ID}, &app)
	var offer struct {
		SendOffer struct{ Offer struct{ ID string } }
	}
	cc.MustDo(t, `mutation($a: ID!) { sendOffer(input: {applicationId: $a, amount: "100", timeline: "1 day", description: "Two coats of paint"}) { offer { id } } }`,
		map[string]any{"a": app.ApplyToJob.ID}, &offer)
	var accepted struct {
		AcceptOffer struct{ Contract struct{ ID string } }
	}
	kc.MustDo(t, `mutation($o: ID!) { acceptOffer(offerId: $o) { contract { id } } }`, map[string]any{"o": offer.SendOffer.Offer.ID}, &accepted)
	var opened struct{ OpenDispute struct{ ID string } }
	kc.MustDo(t, `mutation($c: ID!) { openDispute(input: {contractId: $c, reason: UNRESPONSIVE, description: "Painted, never paid"}) { id } }`,
		map[string]any{"c": accepted.AcceptOffer.Contract.ID}, &opened)
	status := func() string {
		var d struct{ Dispute struct{ Status string } }
		kc.MustDo(t, `query($d: ID!) { dispute(id: $d) { status } }`, map[string]any{"d": opened.OpenDispute.ID}, &d)
		return d.Dispute.Status
	}
	for _, tt := range []struct{ ahead, want string }{{"119h", "OPEN"}, {"121h", "SETTLED"}} {
		if err := run(context.Background(), []string{"jobsphere", "sweep", "--ahead", tt.ahead}, getenv(env), io.Discard, io.Discard); err != nil {
			t.Fatalf("sweep --ahead %s: %v", tt.ahead, err)
		}
		if got := status(); got != tt.want {
			t.Fatalf("after sweep --ahead %s: dispute %s, want %s", tt.ahead, got, tt.want)
		}
	}
	var w struct{ Wallet struct{ Balance string } }
	kc.MustDo(t, `{ wallet { balance } }`, nil, &w)
	if w.Wallet.Balance != "80.00" {
		t.Fatalf("contractor after the default outcome: %s, want 80.00", w.Wallet.Balance)
	}
	srv.RequireLedgerVerified(t)
}

// TestSchemaCommand: `schema` prints an SDL that loads on its own into
// the schema the server serves, without gqlgen's directives, and
// schema.graphql holds it as printed (`make generate` writes it).
func TestSchemaCommand(t *testing.T) {
	stdout, stderr, status, configured := cli(t, "schema")
	if status != 0 || configured || stderr != "" {
		t.Fatalf("schema: status %d, configured %v, stderr %q", status, configured, stderr)
	}
	loaded, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: stdout})
	if err != nil {
		t.Fatalf("the printed SDL does not load: %v", err)
	}
	served := generated.NewExecutableSchema(generated.Config{}).Schema()
	for name, def := range served.Types {
		if got := loaded.Types[name]; got == nil || len(got.Fields) != len(def.Fields) || len(got.EnumValues) != len(def.EnumValues) {
			t.Errorf("type %s: printed %+v", name, got)
		}
	}
	if strings.Contains(stdout, "@go") {
		t.Error("the SDL shows gqlgen's directives")
	}
	committed, err := os.ReadFile("../../schema.graphql")
	if err != nil || string(committed) != stdout {
		t.Fatalf("schema.graphql is not what `jobsphere schema` prints (%v): run make generate", err)
	}
}
