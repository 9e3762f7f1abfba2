package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/jobsphere/jobsphere/app"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const (
	obsLogin = `mutation Login($input: LoginInput!) { login(input: $input) { tokens { accessToken } } }`
	// The alias checks that a refusal is counted under the schema's field
	// name, not the client's response key.
	obsTopUp      = `mutation TopUp($input: DepositInput!) { topUp: deposit(input: $input) { checkoutUrl } }`
	obsMe         = `query Me { me { id } }`
	obsWalletFeed = `subscription WalletFeed { walletUpdated { kind } }`
)

// failingStripe answers every Stripe API call with an api_error, which the
// payments service reports as an internal error (and logs).
func failingStripe(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"type":"api_error","message":"stripe is having a bad day"}}`)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestObservability(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		servertest.StripeEnv(env, failingStripe(t))
		s := servertest.Start(t, env)
		customer := s.Register(t, "CUSTOMER")
		anon := s.Client("")

		// A sign-in, a failed one, a query as the viewer, documents that
		// never run.
		login := map[string]any{"input": map[string]any{"email": customer.Email, "password": customer.Password}}
		anon.MustDo(t, obsLogin, login, nil)
		anon.Do(t, obsLogin, map[string]any{"input": map[string]any{"email": customer.Email, "password": "Wrong-pass1"}}).RequireError(t, "UNAUTHENTICATED")
		me := s.Client(customer.AccessToken)
		me.Header.Set("X-Request-ID", "obs-me")
		me.MustDo(t, obsMe, nil, nil)
		anon.Do(t, `query { noSuchField }`, nil).RequireError(t, "GRAPHQL_VALIDATION_FAILED")
		anon.Do(t, `query Broken {`, nil).RequireError(t, "GRAPHQL_PARSE_FAILED")

		// Deposits until the hourly limit refuses one; Stripe fails the
		// others, which the server logs.
		payer := s.Client(customer.AccessToken)
		payer.Header.Set("X-Request-ID", "obs-deposit")
		refused := false
		for i := 0; i < 10 && !refused; i++ {
			resp := payer.Do(t, obsTopUp, map[string]any{"input": map[string]any{"amount": "20"}})
			if len(resp.Errors) == 0 {
				t.Fatalf("deposit succeeded against a failing Stripe: %s", resp.Data)
			}
			refused = resp.Errors[0].Code() == "RATE_LIMITED"
		}
		if !refused {
			t.Fatal("no deposit was refused with RATE_LIMITED")
		}

		// Subscriptions: one refused at once, one started and stopped.
		anonWS, err := s.DialWebsocket(t, servertest.TransportWS, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		anonWS.Subscribe(t, obsWalletFeed, nil)
		if _, resp := anonWS.Next(t); len(resp.Errors) == 0 || resp.Errors[0].Code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous walletUpdated: %+v", resp)
		}
		ws, err := s.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + customer.AccessToken},
			http.Header{"X-Request-ID": {"obs-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		id := ws.Subscribe(t, obsWalletFeed, nil)
		waitForMetric(t, s, "jobsphere_graphql_subscriptions", nil, 1)
		waitForMetric(t, s, "jobsphere_websocket_connections", nil, 2)
		ws.Unsubscribe(t, id)
		waitForMetric(t, s, "jobsphere_graphql_operations_total",
			map[string]string{"operation_type": "subscription", "operation_name": "WalletFeed", "code": "OK"}, 1)
		_ = ws.Close()
		_ = anonWS.Close()
		waitForMetric(t, s, "jobsphere_websocket_connections", nil, 0)

		// A signed webhook delivered twice, and a forged one.
		payload := servertest.StripeEvent(t, "evt_obs_"+string(pulid.New("x")), "customer.created", map[string]any{"id": "cus_obs", "object": "customer"})
		for range 2 {
			if code := s.PostWebhook(t, "/webhooks/stripe", payload, servertest.Sign(payload, servertest.WebhookSecret, time.Time{})); code != http.StatusOK {
				t.Fatalf("webhook: HTTP %d", code)
			}
		}
		if code := s.PostWebhook(t, "/webhooks/stripe", payload, servertest.Sign(payload, "whsec_forged", time.Time{})); code != http.StatusBadRequest {
			t.Fatalf("forged webhook: HTTP %d", code)
		}

		// Ledger: a posting, its replay, and one rolled back.
		before := metricValue(t, scrape(t, s), "jobsphere_ledger_transactions_total", map[string]string{"type": "DEPOSIT"})
		s.Fund(t, customer.ID, 5000)
		entry := ledger.Entry{
			Key: "obs:" + string(pulid.New("k")), Type: ledgertransaction.TypeDEPOSIT, Description: "Observed deposit",
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(pulid.ID(customer.ID)), Amount: 700}},
		}
		for range 2 {
			if _, err := s.Post(t, entry); err != nil {
				t.Fatal(err)
			}
		}
		ctx := context.Background()
		tx, err := s.App.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		entry.Key = "obs-rollback:" + string(pulid.New("k"))
		if _, err := s.App.Ledger.Post(ctx, tx.Client(), entry); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}

		families := scrape(t, s)
		ops := func(typ, name, code string) map[string]string {
			return map[string]string{"operation_type": typ, "operation_name": name, "code": code}
		}
		for _, c := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"jobsphere_graphql_operations_total", ops("mutation", "Login", "OK"), 1},
			{"jobsphere_graphql_operations_total", ops("mutation", "Login", "UNAUTHENTICATED"), 1},
			{"jobsphere_graphql_operations_total", ops("query", "Me", "OK"), 1},
			{"jobsphere_graphql_operations_total", ops("mutation", "TopUp", "RATE_LIMITED"), 1},
			{"jobsphere_graphql_operations_total", ops("invalid", "invalid", "GRAPHQL_VALIDATION_FAILED"), 1},
			{"jobsphere_graphql_operations_total", ops("invalid", "invalid", "GRAPHQL_PARSE_FAILED"), 1},
			{"jobsphere_graphql_operations_total", ops("mutation", "anonymous", "OK"), 1}, // the sign-up
			{"jobsphere_graphql_operations_total", ops("subscription", "WalletFeed", "UNAUTHENTICATED"), 1},
			{"jobsphere_graphql_operations_total", ops("subscription", "WalletFeed", "OK"), 1},
			{"jobsphere_rate_limit_refusals_total", map[string]string{"limit": "deposit"}, 1},
			{"jobsphere_webhook_events_total", map[string]string{"type": "customer.created", "outcome": "duplicate"}, 1},
			{"jobsphere_webhook_events_total", map[string]string{"type": "unverified", "outcome": "bad_signature"}, 1},
			{"jobsphere_ledger_transactions_total", map[string]string{"type": "DEPOSIT"}, before + 2},
		} {
			if got := metricValue(t, families, c.name, c.labels); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		// payments acts on no customer.created: recorded once, as ignored.
		if got := metricValue(t, families, "jobsphere_webhook_events_total", map[string]string{"type": "customer.created", "outcome": "ignored"}); got != 1 {
			t.Errorf("customer.created counted %v times as ignored, want 1", got)
		}
		// Queries and mutations are timed; subscriptions are not.
		if n := histogramCount(t, families, "jobsphere_graphql_operation_duration_seconds", map[string]string{"operation_type": "mutation", "operation_name": "Login"}); n != 2 {
			t.Errorf("Login timed %d times, want 2", n)
		}
		if n := histogramCount(t, families, "jobsphere_graphql_operation_duration_seconds", map[string]string{"operation_type": "subscription", "operation_name": "WalletFeed"}); n != 0 {
			t.Errorf("WalletFeed timed %d times, want 0", n)
		}
		for _, name := range []string{"jobsphere_http_requests_total", "jobsphere_http_request_duration_seconds", "go_goroutines", "go_sql_open_connections"} {
			if families[name] == nil {
				t.Errorf("/metrics lacks %s", name)
			}
		}

		checkLogs(t, s, customer)
	})
}

// checkLogs: request ids and viewer ids where they belong, and no email,
// password or token anywhere.
func checkLogs(t *testing.T, s *servertest.Server, customer servertest.User) {
	t.Helper()
	// The websocket's access line is written when its handler returns,
	// a moment after the connection closed.
	var lines []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines = logLines(t, s.Logs.String())
		if findLine(lines, func(l map[string]any) bool { return l["request_id"] == "obs-ws" && l["msg"] == "http request" }) != nil ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	raw := s.Logs.String()
	for _, secret := range []string{customer.Email, customer.Password, customer.AccessToken, customer.RefreshToken, "Wrong-pass1"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	for _, l := range lines {
		if l["msg"] == "http request" {
			if id, _ := l["request_id"].(string); id == "" {
				t.Errorf("access line without request_id: %v", l)
			}
		}
	}
	for _, c := range []struct {
		what string
		want func(map[string]any) bool
	}{
		{"the viewer's query's access line", func(l map[string]any) bool {
			return l["msg"] == "http request" && l["request_id"] == "obs-me" && l["viewer_id"] == customer.ID
		}},
		{"the websocket's access line, with the viewer of its connection_init", func(l map[string]any) bool {
			return l["msg"] == "http request" && l["request_id"] == "obs-ws" && l["status"] == float64(101) && l["viewer_id"] == customer.ID
		}},
		{"a service's line logged during the viewer's request", func(l map[string]any) bool {
			return l["msg"] != "http request" && l["request_id"] == "obs-deposit" && l["viewer_id"] == customer.ID
		}},
		{"the webhook's duplicate line, with its request's id", func(l map[string]any) bool {
			id, _ := l["request_id"].(string)
			return l["msg"] == "stripe event already processed" && id != ""
		}},
	} {
		if findLine(lines, c.want) == nil {
			t.Errorf("no log line: %s", c.what)
		}
	}
	if l := findLine(lines, func(l map[string]any) bool {
		return l["request_id"] != "obs-me" && l["viewer_id"] == nil && l["msg"] == "http request" && l["path"] == "/graphql"
	}); l == nil {
		t.Error("every /graphql access line has a viewer_id: anonymous requests should have none")
	}
}

func logLines(t *testing.T, raw string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(raw), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func findLine(lines []map[string]any, ok func(map[string]any) bool) map[string]any {
	for _, l := range lines {
		if ok(l) {
			return l
		}
	}
	return nil
}

// scrape GETs /metrics and parses it.
func scrape(t *testing.T, s *servertest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := s.Get(t, "/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// series finds the series of a family with exactly the given labels.
func series(families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := families[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

// metricValue is a counter's or gauge's value; 0 when the series does not
// exist.
func metricValue(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := series(families, name, labels)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s is neither a counter nor a gauge", name)
	return 0
}

func histogramCount(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	t.Helper()
	return series(families, name, labels).GetHistogram().GetSampleCount()
}

// waitForMetric polls /metrics until the series has the value.
func waitForMetric(t *testing.T, s *servertest.Server, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := metricValue(t, scrape(t, s), name, labels)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// collector is a stand-in OpenTelemetry collector: it accepts OTLP/HTTP
// protobuf at /v1/traces and keeps the spans.
type collector struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (c *collector) byName() map[string][]*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string][]*tracepb.Span{}
	for _, s := range c.spans {
		m[s.GetName()] = append(m[s.GetName()], s)
	}
	return m
}

func TestTracing(t *testing.T) {
	col := &collector{}
	otlp := httptest.NewServer(col)
	defer otlp.Close()

	env := servertest.Env(t, servertest.SQLite)
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.URL
	env["OTEL_SERVICE_NAME"] = "jobsphere-test"
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var logs servertest.SyncBuffer
	app, err := app.Open(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(app.NewServer())
	ts.Config.BaseContext = func(net.Listener) context.Context { return context.Background() }
	ts.Start()

	// The caller's trace continues into the server's spans.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation SignUp($input: RegisterInput!) { register(input: $input) { user { id } } }`,
		"variables": map[string]any{"input": map[string]any{"email": "traced@example.test", "password": servertest.TestPassword, "name": "Traced", "role": "CUSTOMER"}},
	})
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) {
		t.Fatalf("register: HTTP %d %s", resp.StatusCode, raw)
	}
	// Websocket upgrades still work through the tracing middleware.
	s := &servertest.Server{URL: ts.URL, App: app, Logs: &logs}
	ws, err := s.DialWebsocket(t, servertest.TransportWS, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := ws.Query(t, `query Ping { __typename }`, nil); len(r.Errors) > 0 {
		t.Fatalf("Ping over websocket: %s", r.ErrorSummary())
	}
	_ = ws.Close()
	// The upgrade's span ends once its handler returns, a moment after
	// the connection closed.
	for deadline := time.Now().Add(5 * time.Second); len(col.byName()["GET /graphql"]) == 0 && time.Now().Before(deadline); {
		if err := app.Tracing.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Stop the server: Close flushes the spans.
	ts.Close()
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}

	spans := col.byName()
	names := make([]string, 0, len(spans))
	for n := range spans {
		names = append(names, n)
	}
	httpSpans, opSpans := spans["POST /graphql"], spans["mutation SignUp"]
	if len(httpSpans) != 1 || len(opSpans) != 1 || len(spans["GET /graphql"]) != 1 || len(spans["query Ping"]) != 1 {
		t.Fatalf("want one span for each request and each operation, got spans %v", names)
	}
	httpSpan, opSpan := httpSpans[0], opSpans[0]
	if got := hex.EncodeToString(httpSpan.GetTraceId()); got != traceID {
		t.Errorf("HTTP span's trace = %s, want the caller's %s", got, traceID)
	}
	if !bytes.Equal(opSpan.GetParentSpanId(), httpSpan.GetSpanId()) {
		t.Error("the GraphQL span is not the HTTP span's child")
	}
	attrs := map[string]string{}
	for _, a := range opSpan.GetAttributes() {
		attrs[a.GetKey()] = a.GetValue().GetStringValue()
	}
	if attrs["graphql.operation.type"] != "mutation" || attrs["graphql.operation.name"] != "SignUp" || attrs["graphql.response.code"] != "OK" {
		t.Errorf("GraphQL span attributes = %v", attrs)
	}
	sqlUnderOp := 0
	for name, ss := range spans {
		if !strings.HasPrefix(name, "sql.") {
			continue
		}
		for _, s := range ss {
			if bytes.Equal(s.GetParentSpanId(), opSpan.GetSpanId()) {
				sqlUnderOp++
			}
		}
	}
	if sqlUnderOp == 0 {
		t.Errorf("no SQL span under the GraphQL operation; spans: %v", names)
	}
	// Its log lines say which trace they belong to.
	if !strings.Contains(logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("no log line carries the trace id: %s", logs.String())
	}
}

// TestAccessLogOperations: a GraphQL request's access line names its
// operation and the distinct extensions.code values it answered (a failed
// operation is still HTTP 200), and so does a refusal outside GraphQL; a
// websocket's operations get a line each, under the socket's request id.
func TestAccessLogOperations(t *testing.T) {
	s := servertest.New(t, servertest.SQLite)
	customer := s.Register(t, "CUSTOMER")
	as := func(token, requestID string) *servertest.Client {
		c := s.Client(token)
		c.Header.Set("X-Request-ID", requestID)
		return c
	}
	as(customer.AccessToken, "log-me").MustDo(t, obsMe, nil, nil)
	if r := as("", "log-anon").Do(t, `query MeAndWallet { me { id } wallet { balance } }`, nil); len(r.Errors) != 2 {
		t.Fatalf("two refusals expected: %s", r.ErrorSummary())
	}
	as(customer.AccessToken, "log-forbidden").Do(t, `query Stats { me { id } platformStats { revenue } }`, nil).RequireError(t, "FORBIDDEN")
	as("", "log-parse").Do(t, `query Broken {`, nil).RequireError(t, "GRAPHQL_PARSE_FAILED")
	as("", "log-anonymous").MustDo(t, `{ __typename }`, nil, nil)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
	req.Header.Set("X-Request-ID", "log-415")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	ws, err := s.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + customer.AccessToken},
		http.Header{"X-Request-ID": {"log-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	ws.Query(t, obsMe, nil)
	ws.Query(t, `query Denied { platformStats { revenue } }`, nil)
	_ = ws.Close()

	type line = map[string]any
	access := func(requestID string) func(line) bool {
		return func(l line) bool { return l["msg"] == "http request" && l["request_id"] == requestID }
	}
	operation := func(name string) func(line) bool {
		return func(l line) bool {
			return l["msg"] == "graphql operation" && l["request_id"] == "log-ws" && l["operation"] == name
		}
	}
	for _, c := range []struct {
		find func(line) bool
		want line // nil: the key must be absent
	}{
		{access("log-me"), line{"status": float64(200), "operation": "Me", "operation_type": "query", "error_codes": nil, "viewer_id": customer.ID}},
		{access("log-anon"), line{"status": float64(200), "operation": "MeAndWallet", "error_codes": "UNAUTHENTICATED"}},
		{access("log-forbidden"), line{"status": float64(200), "operation": "Stats", "error_codes": "FORBIDDEN"}},
		{access("log-parse"), line{"status": float64(422), "operation": "invalid", "operation_type": "invalid", "error_codes": "GRAPHQL_PARSE_FAILED"}},
		{access("log-anonymous"), line{"operation": "anonymous", "operation_type": "query", "error_codes": nil}},
		{access("log-415"), line{"status": float64(415), "operation": nil, "error_codes": "BAD_REQUEST"}},
		{operation("Me"), line{"operation_type": "query", "error_codes": nil, "viewer_id": customer.ID}},
		{operation("Denied"), line{"operation_type": "query", "error_codes": "FORBIDDEN", "viewer_id": customer.ID}},
		{access("log-ws"), line{"status": float64(101), "operation": nil, "error_codes": nil}},
	} {
		var l line
		deadline := time.Now().Add(5 * time.Second) // the websocket's access line comes once its handler returns
		for l = findLine(logLines(t, s.Logs.String()), c.find); l == nil && time.Now().Before(deadline); l = findLine(logLines(t, s.Logs.String()), c.find) {
			time.Sleep(20 * time.Millisecond)
		}
		if l == nil {
			t.Errorf("no log line for %v", c.want)
			continue
		}
		for k, v := range c.want {
			if got, ok := l[k]; (v == nil && ok) || (v != nil && got != v) {
				t.Errorf("%v: %s = %v, want %v", l, k, got, v)
			}
		}
	}
}
