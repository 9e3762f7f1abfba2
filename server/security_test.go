package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/stripeevent"
	"github.com/jobsphere/jobsphere/ent/user"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// The security suite (DESIGN §7): request abuse (alias bombs, batches,
// depth, complexity, body size), browser origins, webhook replays, forged
// tokens, production defaults, and no secret in any response or log line.
// Who may call what is authz_test.go's matrix.

// secRequest sends a request and returns the status, headers and raw
// body. chunked hides the length, as a streaming client would.
func secRequest(t *testing.T, method, target, contentType string, body []byte, chunked bool, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // no Len(): net/http cannot know the size
		}
	}
	req, err := http.NewRequest(method, target, r)
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		req.ContentLength = -1
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// secStart starts a test server with the given variables (name,
// value, …) over the default test environment.
func secStart(t *testing.T, settings ...string) *servertest.Server {
	t.Helper()
	env := servertest.Env(t, servertest.SQLite)
	for i := 0; i+1 < len(settings); i += 2 {
		env[settings[i]] = settings[i+1]
	}
	return servertest.Start(t, env)
}

// secErrorCode is the first error's extensions.code of a raw GraphQL body.
func secErrorCode(body []byte) string {
	var r servertest.Response
	if json.Unmarshal(body, &r) != nil || len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Code()
}

// secAliased repeats one field n times under aliases a0…a(n-1).
func secAliased(op string, n int, field func(i int) string) string {
	var b strings.Builder
	b.WriteString(op + " {")
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, field(i))
	}
	b.WriteString(" }")
	return b.String()
}

// secCodeCounts counts the errors of a response by code.
func secCodeCounts(r servertest.Response) map[string]int {
	n := map[string]int{}
	for _, e := range r.Errors {
		n[e.Code()]++
	}
	return n
}

func secUsersWithPrefix(t *testing.T, srv *servertest.Server, prefix string) int {
	t.Helper()
	return srv.App.Client.User.Query().Where(user.EmailHasPrefix(prefix)).CountX(context.Background())
}

// TestAliasBombsAndBatches: one document with hundreds of aliases of a
// limited mutation gets no more attempts than separate requests would,
// a mutation bomb over the complexity limit runs nothing, and batched
// requests (a JSON array of operations) are refused.
func TestAliasBombsAndBatches(t *testing.T) {
	// The defaults, said out loud; each bomb comes from its own address.
	srv := secStart(t, "LOGIN_LIMIT_PER_ADDRESS", "30", "REGISTER_LIMIT_PER_ADDRESS", "10",
		"GRAPHQL_MAX_COMPLEXITY", "1000", "TRUSTED_PROXY_HOPS", "1")
	from := func(addr string) *servertest.Client {
		c := srv.Client("")
		c.Header.Set("X-Forwarded-For", addr)
		return c
	}
	victim := srv.Register(t, "CUSTOMER")

	// 200 guesses at one account's password in one document: ten are
	// checked (the per-email limit), the other 190 are RATE_LIMITED.
	bomb := secAliased("mutation", 200, func(i int) string {
		return fmt.Sprintf(`login(input: {email: %q, password: "Guess%04d"}) { tokens { accessToken } }`, victim.Email, i)
	})
	r := from("10.0.0.1").Do(t, bomb, nil)
	if n := secCodeCounts(r); n["UNAUTHENTICATED"] != 10 || n["RATE_LIMITED"] != 190 || len(r.Errors) != 200 {
		t.Fatalf("login bomb on one email: %v", n)
	}
	// The window is spent for that email from that address; its owner
	// signs in from elsewhere (input_security_test.go has the ceiling).
	from("10.0.0.9").MustDo(t, `mutation($in: LoginInput!) { login(input: $in) { user { id } } }`,
		map[string]any{"in": map[string]any{"email": victim.Email, "password": victim.Password}}, nil)

	// 200 emails sprayed from one address: thirty are tried (the
	// per-address limit), the rest are RATE_LIMITED.
	spray := secAliased("mutation", 200, func(i int) string {
		return fmt.Sprintf(`login(input: {email: "spray%d@example.test", password: "Passw0rd%d"}) { tokens { accessToken } }`, i, i)
	})
	if n := secCodeCounts(from("10.0.0.2").Do(t, spray, nil)); n["UNAUTHENTICATED"] != 30 || n["RATE_LIMITED"] != 170 {
		t.Fatalf("login spray from one address: %v", n)
	}

	// 200 sign-ups in one document: ten accounts, 190 RATE_LIMITED.
	farm := secAliased("mutation", 200, func(i int) string {
		return fmt.Sprintf(`register(input: {email: "farm%d@example.test", password: "Passw0rd%d", name: "Farm %d", role: CUSTOMER}) { user { id } }`, i, i, i)
	})
	if n := secCodeCounts(from("10.0.0.3").Do(t, farm, nil)); n["RATE_LIMITED"] != 190 || len(n) != 1 {
		t.Fatalf("register bomb: %v", n)
	}
	if n := secUsersWithPrefix(t, srv, "farm"); n != 10 {
		t.Fatalf("register bomb made %d accounts, want 10", n)
	}

	// Over the complexity limit (400 × 3 > 1000) the whole document is
	// refused before any resolver runs: not one account is made.
	big := secAliased("mutation", 400, func(i int) string {
		return fmt.Sprintf(`register(input: {email: "big%d@example.test", password: "Passw0rd%d", name: "Big %d", role: CUSTOMER}) { user { id } }`, i, i, i)
	})
	from("10.0.0.4").Do(t, big, nil).RequireError(t, "COMPLEXITY_LIMIT_EXCEEDED")
	if n := secUsersWithPrefix(t, srv, "big"); n != 0 {
		t.Fatalf("a refused bomb made %d accounts", n)
	}

	// Batching is not a transport here: a JSON array of operations is
	// refused as a whole and none of them runs.
	batch, _ := json.Marshal([]map[string]any{
		{"query": `mutation { register(input: {email: "batch1@example.test", password: "Passw0rd1", name: "Batch One", role: CUSTOMER}) { user { id } } }`},
		{"query": `mutation { register(input: {email: "batch2@example.test", password: "Passw0rd2", name: "Batch Two", role: CUSTOMER}) { user { id } } }`},
	})
	status, _, body := secRequest(t, http.MethodPost, srv.URL+"/graphql", "application/json", batch, false, http.Header{"X-Forwarded-For": {"10.0.0.5"}})
	if status != http.StatusBadRequest || !strings.Contains(string(body), `"errors"`) {
		t.Fatalf("batch: %d %.300s", status, body)
	}
	if n := secUsersWithPrefix(t, srv, "batch"); n != 0 {
		t.Fatalf("a refused batch made %d accounts", n)
	}
	// The refusal has a code, like every error, and does not echo the body.
	if secErrorCode(body) != "BAD_REQUEST" || strings.Contains(string(body), "batch1@example.test") {
		t.Fatalf("batch refusal: %.300s", body)
	}

	// Page sizes are capped, and the complexity limit counts them: one
	// cheap document cannot ask for an unbounded number of rows.
	vc := srv.Client(victim.AccessToken)
	vc.Do(t, `{ jobs(first: 1000000) { totalCount } }`, nil).RequireError(t, "BAD_USER_INPUT")
	vc.Do(t, `{ offers(last: 101) { totalCount } }`, nil).RequireError(t, "BAD_USER_INPUT")
	wide := secAliased("query", 20, func(int) string {
		return `jobs(first: 100) { edges { node { applications(first: 100) { edges { node { id } } } } } }`
	})
	vc.Do(t, wide, nil).RequireError(t, "COMPLEXITY_LIMIT_EXCEEDED")
	// Without first or last a connection returns a default page, and is
	// weighed as one.
	unbounded := secAliased("query", 5, func(int) string {
		return `jobs { edges { node { applications { edges { node { id } } } } } }`
	})
	vc.Do(t, unbounded, nil).RequireError(t, "COMPLEXITY_LIMIT_EXCEEDED")

	// Introspection roots are counted: one is what GraphiQL asks for.
	schemaBomb := secAliased("query", 50, func(int) string { return "__schema { types { fields { type { fields { name } } } } }" })
	srv.Client("").Do(t, schemaBomb, nil).RequireError(t, "COMPLEXITY_LIMIT_EXCEEDED")
	srv.Client("").MustDo(t, `{ __schema { types { name } } }`, nil, nil)
}

// TestQueryLimitsOnEveryTransport: the depth and complexity limits refuse
// an operation on every transport (POST, GET, websocket, persisted
// queries) before any resolver runs; just under them passes.
func TestQueryLimitsOnEveryTransport(t *testing.T) {
	srv := secStart(t, "GRAPHQL_MAX_DEPTH", "12", "GRAPHQL_MAX_COMPLEXITY", "1000")
	k := srv.Register(t, "CONTRACTOR")

	// reviews › edges › node › contract › job › postedBy › reviews ›
	// edges › node › contract › job › id is 12 deep; one more level is 13.
	nest := func(leaf string) string {
		return fmt.Sprintf(`{ reviews(freelancerId: %q, first: 1) { edges { node { contract { job { postedBy { reviews(first: 1) { edges { node { contract { job { %s } } } } } } } } } } } }`, k.ID, leaf)
	}
	depth12, depth13 := nest("id"), nest("postedBy { id }")
	// stripeConfig { sandbox } costs 2: 500 aliases are exactly 1000.
	cost := func(n int) string {
		return secAliased("query", n, func(int) string { return "stripeConfig { sandbox }" })
	}
	cost1000, cost1002 := cost(500), cost(501)

	ws, err := srv.DialWebsocket(t, servertest.TransportWS, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	transports := map[string]func(q string) servertest.Response{
		"POST": func(q string) servertest.Response { return srv.Client("").Do(t, q, nil) },
		"GET": func(q string) servertest.Response {
			_, _, body := secRequest(t, http.MethodGet, srv.URL+"/graphql?query="+url.QueryEscape(q), "", nil, false, nil)
			var r servertest.Response
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("GET: %v: %.300s", err, body)
			}
			return r
		},
		"websocket": func(q string) servertest.Response { return ws.Query(t, q, nil) },
		"persisted query": func(q string) servertest.Response {
			sum := secSHA256(q)
			raw, _ := json.Marshal(map[string]any{"query": q, "extensions": map[string]any{
				"persistedQuery": map[string]any{"version": 1, "sha256Hash": sum}}})
			return srv.Client("").Post(t, "application/json", bytes.NewReader(raw))
		},
	}
	for name, do := range transports {
		for q, want := range map[string]string{depth13: "DEPTH_LIMIT_EXCEEDED", cost1002: "COMPLEXITY_LIMIT_EXCEEDED"} {
			e := do(q).RequireError(t, want)
			if !strings.Contains(e.Message, "limit") {
				t.Errorf("%s %s: message %q", name, want, e.Message)
			}
		}
		for _, q := range []string{depth12, cost1000} {
			if r := do(q); len(r.Errors) > 0 {
				t.Errorf("%s: just under the limits refused: %s", name, r.ErrorSummary())
			}
		}
	}
	// Sent again by its hash alone, a refused persisted query is refused
	// again: the cache may keep it, the limits still apply.
	raw, _ := json.Marshal(map[string]any{"extensions": map[string]any{
		"persistedQuery": map[string]any{"version": 1, "sha256Hash": secSHA256(depth13)}}})
	if r := srv.Client("").Post(t, "application/json", bytes.NewReader(raw)); len(r.Errors) != 1 ||
		(r.Errors[0].Code() != "DEPTH_LIMIT_EXCEEDED" && r.Errors[0].Message != "PersistedQueryNotFound") {
		t.Fatalf("refused persisted query by hash: %s %s", r.ErrorSummary(), r.Data)
	}

	// Refused before any resolver: a too-deep sign-up makes no account.
	deepRegister := `mutation { register(input: {email: "deep@example.test", password: "Passw0rd1", name: "Deep One", role: CUSTOMER}) {
	  user { reviews(first: 1) { edges { node { contract { job { postedBy { reviews(first: 1) { edges { node { contract { id } } } } } } } } } } } } }`
	srv.Client("").Do(t, deepRegister, nil).RequireError(t, "DEPTH_LIMIT_EXCEEDED")
	if n := secUsersWithPrefix(t, srv, "deep@"); n != 0 {
		t.Fatal("a refused mutation ran")
	}
}

func secSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// secMultipart is a GraphQL multipart request carrying size bytes of
// PNG-looking data.
func secMultipart(size int) (string, []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadMedia(file: $f) { mediaUrl } }","variables":{"f":null}}`)
	_ = w.WriteField("map", `{"0":["variables.f"]}`)
	part, _ := w.CreateFormFile("0", "big.png")
	_, _ = part.Write([]byte("\x89PNG\r\n\x1a\n"))
	_, _ = part.Write(bytes.Repeat([]byte{0}, size))
	_ = w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// TestBodySizeLimits: JSON bodies over MAX_BODY_BYTES and multipart
// bodies over MAX_UPLOAD_BYTES are refused with 413 PAYLOAD_TOO_LARGE
// before anything parses them, with or without a Content-Length, on every
// route; a body of exactly the limit passes.
func TestBodySizeLimits(t *testing.T) {
	srv := secStart(t, "MAX_BODY_BYTES", "16384", "MAX_UPLOAD_BYTES", "65536")
	u := srv.Register(t, "CUSTOMER")
	auth := http.Header{"Authorization": {"Bearer " + u.AccessToken}}

	// A valid operation padded to an exact size.
	padded := func(size int) []byte {
		head, tail := `{"query":"{ __typename }","variables":{"pad":"`, `"}}`
		return []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)
	}
	for _, chunked := range []bool{false, true} {
		status, _, body := secRequest(t, http.MethodPost, srv.URL+"/graphql", "application/json", padded(16384), chunked, auth)
		if status != http.StatusOK || secErrorCode(body) != "" {
			t.Fatalf("body of exactly the limit (chunked %v): %d %.200s", chunked, status, body)
		}
		status, _, body = secRequest(t, http.MethodPost, srv.URL+"/graphql", "application/json", padded(16385), chunked, auth)
		if status != http.StatusRequestEntityTooLarge || secErrorCode(body) != "PAYLOAD_TOO_LARGE" || !strings.Contains(string(body), "16384") {
			t.Fatalf("body one byte over (chunked %v): %d %.200s", chunked, status, body)
		}
	}
	// Every route, not only GraphQL: the webhook route too.
	status, _, body := secRequest(t, http.MethodPost, srv.URL+"/webhooks/stripe", "application/json", padded(20000), false, nil)
	if status != http.StatusRequestEntityTooLarge || secErrorCode(body) != "PAYLOAD_TOO_LARGE" {
		t.Fatalf("oversized webhook: %d %.200s", status, body)
	}

	// Multipart: uploads get MAX_UPLOAD_BYTES instead, and nothing is kept.
	contentType, small := secMultipart(20000) // over MAX_BODY_BYTES, under MAX_UPLOAD_BYTES
	if status, _, body := secRequest(t, http.MethodPost, srv.URL+"/graphql", contentType, small, false, auth); status == http.StatusRequestEntityTooLarge {
		t.Fatalf("an upload under MAX_UPLOAD_BYTES refused as too large: %.200s", body)
	}
	contentType, big := secMultipart(70000)
	status, _, body = secRequest(t, http.MethodPost, srv.URL+"/graphql", contentType, big, false, auth)
	if status != http.StatusRequestEntityTooLarge || secErrorCode(body) != "PAYLOAD_TOO_LARGE" {
		t.Fatalf("oversized multipart: %d %.200s", status, body)
	}
	status, _, body = secRequest(t, http.MethodPost, srv.URL+"/api/media/upload", contentType, big, false, auth)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized REST upload: %d %.200s", status, body)
	}
	// Streamed (chunked) multipart over the limit gets the same answer.
	for _, path := range []string{"/graphql", "/api/media/upload"} {
		status, _, body = secRequest(t, http.MethodPost, srv.URL+path, contentType, big, true, auth)
		if status != http.StatusRequestEntityTooLarge || secErrorCode(body) != "PAYLOAD_TOO_LARGE" {
			t.Fatalf("oversized chunked multipart to %s: %d %.200s", path, status, body)
		}
	}
	if files := mediaFiles(t, srv); len(files) != 1 { // the small upload only
		t.Fatalf("media kept: %v", files)
	}
}

// TestCORSAndWebsocketOrigins: only the CORS_ORIGINS allow-list gets
// Access-Control-Allow-Origin (never "*", never credentials), and only it
// may open a websocket from a browser; native clients send no Origin.
func TestCORSAndWebsocketOrigins(t *testing.T) {
	srv := secStart(t, "CORS_ORIGINS", "https://app.example.com, http://localhost:3000")
	op := []byte(`{"query":"{ __typename }"}`)

	for origin, allowed := range map[string]bool{
		"https://app.example.com":              true,
		"http://localhost:3000":                true,
		"https://evil.example.com":             false,
		"https://app.example.com.evil.example": false, // a lookalike host
		"http://app.example.com":               false, // another scheme
		"https://app.example.com:8443":         false, // another port
		"http://localhost:3001":                false,
		"null":                                 false, // sandboxed iframes, file:// pages
	} {
		want := ""
		if allowed {
			want = origin
		}
		// The request itself, and the preflight a browser sends first.
		_, h, _ := secRequest(t, http.MethodPost, srv.URL+"/graphql", "application/json", op, false, http.Header{"Origin": {origin}})
		if got := h.Get("Access-Control-Allow-Origin"); got != want || h.Get("Access-Control-Allow-Credentials") == "true" {
			t.Errorf("POST from %s: allow-origin %q, allow-credentials %q", origin, got, h.Get("Access-Control-Allow-Credentials"))
		}
		_, h, _ = secRequest(t, http.MethodOptions, srv.URL+"/graphql", "", nil, false, http.Header{
			"Origin": {origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization, content-type"},
		})
		if got := h.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("preflight from %s: allow-origin %q", origin, got)
		}
		if allowed && !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") {
			t.Errorf("preflight from %s: allow-headers %q", origin, h.Get("Access-Control-Allow-Headers"))
		}
		ws, err := srv.DialWebsocket(t, servertest.TransportWS, nil, http.Header{"Origin": {origin}})
		switch {
		case allowed && err != nil:
			t.Errorf("websocket from %s refused: %v", origin, err)
		case !allowed && (err == nil || !strings.Contains(err.Error(), "HTTP 403")):
			t.Errorf("websocket from %s: want 403, got %v", origin, err)
		}
		if ws != nil {
			ws.Close()
		}
	}
	// No Origin: a native app (Flutter, mobile); no CORS headers needed.
	_, h, _ := secRequest(t, http.MethodPost, srv.URL+"/graphql", "application/json", op, false, nil)
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("allow-origin without an Origin: %q", h.Get("Access-Control-Allow-Origin"))
	}
	if _, err := srv.DialWebsocket(t, servertest.TransportWS, nil, nil); err != nil {
		t.Errorf("websocket without Origin: %v", err)
	}
	// Mutations never ride a GET (a link or an <img> could send one).
	status, _, body := secRequest(t, http.MethodGet, srv.URL+"/graphql?query="+url.QueryEscape(`mutation { logout(refreshToken: "x") }`), "", nil, false, nil)
	if status < 400 || strings.Contains(string(body), `"logout"`) {
		t.Errorf("mutation over GET: %d %s", status, body)
	}
}

// TestWebhookReplayBeyondTolerance: a genuine event whose signature is
// older than Stripe's 5-minute tolerance is refused (400) on every route
// and under either secret, and records nothing; moving its timestamp
// forward breaks the signature; the same event signed now is applied
// once; in the sandbox, an event signed with anything but the sandbox's
// own secret is refused.
func TestWebhookReplayBeyondTolerance(t *testing.T) {
	const connectSecret = "whsec_connect_replay_test"
	env := servertest.Env(t, servertest.SQLite)
	servertest.StripeEnv(env, "http://127.0.0.1:1") // nothing here calls Stripe
	env["STRIPE_CONNECT_WEBHOOK_SECRET"] = connectSecret
	srv := servertest.Start(t, env)
	ctx := context.Background()
	u := srv.Register(t, "CUSTOMER")
	c := srv.Client(u.AccessToken)
	d := startedDeposit(t, srv, u.ID, 5000)
	ev := sessionCompleted(t, d, "evt_replayed")
	tenMinutesAgo := time.Now().Add(-10 * time.Minute)

	stale := servertest.Sign(ev, servertest.WebhookSecret, tenMinutesAgo)
	// The captured header with its timestamp moved to now: t=…,v1=…
	redated := regexp.MustCompile(`t=\d+`).ReplaceAllString(stale, fmt.Sprintf("t=%d", time.Now().Unix()))
	refused := map[string]string{
		"stale, account secret": stale,
		"stale, Connect secret": servertest.Sign(ev, connectSecret, tenMinutesAgo),
		"stale, re-dated":       redated,
	}
	for name, sig := range refused {
		for _, path := range []string{"/webhooks/stripe", "/webhook", "/api/webhooks/stripe"} {
			if code := srv.PostWebhook(t, path, ev, sig); code != http.StatusBadRequest {
				t.Fatalf("%s on %s: %d", name, path, code)
			}
		}
	}
	unchanged := func(when string) {
		t.Helper()
		if n := srv.App.Client.StripeEvent.Query().Where(stripeevent.StripeEventID("evt_replayed")).CountX(ctx); n != 0 {
			t.Fatalf("%s: refused event recorded", when)
		}
		if got := srv.App.Client.Deposit.GetX(ctx, d.ID); got.Status != deposit.StatusPENDING {
			t.Fatalf("%s: deposit %s", when, got.Status)
		}
		if w := readWallet(t, c); w.Wallet.Balance != "0.00" || w.Wallet.PendingDeposits != "50.00" {
			t.Fatalf("%s: wallet %+v", when, w.Wallet)
		}
	}
	unchanged("after stale deliveries")
	if !strings.Contains(srv.Logs.String(), "stripe webhook refused") {
		t.Fatal("refusals are not logged")
	}

	// The same bytes signed now: applied, once.
	signedNow := func() string { return servertest.Sign(ev, servertest.WebhookSecret, time.Time{}) }
	if code := srv.PostWebhook(t, "/webhooks/stripe", ev, signedNow()); code != http.StatusOK {
		t.Fatalf("fresh delivery: %d", code)
	}
	credited := func(when string) {
		t.Helper()
		if w := readWallet(t, c); w.Wallet.Balance != "50.00" || w.Wallet.PendingDeposits != "0.00" {
			t.Fatalf("%s: wallet %+v", when, w.Wallet)
		}
	}
	credited("after the fresh delivery")
	// Replayed later, stale or freshly re-signed: nothing more.
	if code := srv.PostWebhook(t, "/webhooks/stripe", ev, stale); code != http.StatusBadRequest {
		t.Fatalf("stale replay after processing: %d", code)
	}
	if code := srv.PostWebhook(t, "/webhooks/stripe", ev, signedNow()); code != http.StatusOK {
		t.Fatalf("redelivery: %d", code)
	}
	credited("after replays")
	srv.RequireLedgerVerified(t)

	// The sandbox signs with a secret of its own that nobody configures:
	// an event forged with the test secret, or unsigned, credits nothing.
	sb := servertest.New(t, servertest.SQLite)
	v := sb.Register(t, "CUSTOMER")
	vc := sb.Client(v.AccessToken)
	started := startDeposit(t, vc, map[string]any{"amount": "30"})
	sd := sb.App.Client.Deposit.GetX(ctx, pulid.ID(started.Deposit.Deposit.ID))
	forged := sessionCompleted(t, sd, "evt_forged")
	for name, sig := range map[string]string{
		"test secret":   servertest.Sign(forged, servertest.WebhookSecret, time.Time{}),
		"sandbox-ish":   servertest.Sign(forged, "whsec_sandbox_", time.Time{}),
		"no signature":  "",
		"empty v1":      fmt.Sprintf("t=%d,v1=", time.Now().Unix()),
		"only a scheme": fmt.Sprintf("t=%d,v0=00", time.Now().Unix()),
	} {
		if code := sb.PostWebhook(t, "/webhooks/stripe", forged, sig); code != http.StatusBadRequest {
			t.Fatalf("sandbox, forged (%s): %d", name, code)
		}
	}
	if w := readWallet(t, vc); w.Wallet.Balance != "0.00" || w.Wallet.PendingDeposits != "30.00" {
		t.Fatalf("sandbox wallet after forged events: %+v", w.Wallet)
	}
}

// TestForgedAccessTokens: tokens not signed by us with HS256, expired,
// altered after signing or otherwise off are UNAUTHENTICATED on HTTP (never
// a viewer, even for a token claiming ADMIN) and close a websocket at
// connection_init with 4403.
func TestForgedAccessTokens(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	secret := []byte(env["JWT_SECRET"])
	srv := servertest.Start(t, env)
	u := srv.Register(t, "CUSTOMER")
	now := time.Now()

	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": u.ID, "role": "ADMIN", "iss": "jobsphere", "iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The real token with its payload rewritten: role ADMIN, same signature.
	parts := strings.Split(u.AccessToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"CUSTOMER"`), []byte(`"ADMIN"`), 1)) + "." + parts[2]
	if tampered == u.AccessToken {
		t.Fatal("tampering changed nothing")
	}
	otherKey := make([]byte, 32)
	_, _ = rand.Read(otherKey)

	forged := map[string]string{
		"alg none":         sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
		"wrong key":        sign(jwt.SigningMethodHS256, otherKey, claims(nil)),
		"expired":          sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["role"], c["exp"] = "CUSTOMER", now.Add(-time.Minute).Unix() })),
		"tampered payload": tampered,
		"signature cut":    parts[0] + "." + parts[1] + ".",
		"HS512, our key":   sign(jwt.SigningMethodHS512, secret, claims(nil)),
		"foreign issuer":   sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["iss"] = "someone-else" })),
		"no expiry":        sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"unknown role":     sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["role"] = "ROOT" })),
		"refresh token":    u.RefreshToken,
		"not a JWT":        "not-a-token",
	}
	for name, token := range forged {
		c := srv.Client(token)
		e := c.Do(t, `{ me { id } }`, nil).RequireError(t, "UNAUTHENTICATED")
		want := "Invalid access token"
		if name == "expired" {
			want = "Access token expired. Please refresh your session"
		}
		if e.Message != want {
			t.Errorf("%s: message %q, want %q", name, e.Message, want)
		}
		c.Do(t, `{ platformStats { revenue } }`, nil).RequireError(t, "UNAUTHENTICATED")
		for _, init := range []map[string]any{{"Authorization": "Bearer " + token}, {"authToken": token}} {
			_, err := srv.DialWebsocket(t, servertest.TransportWS, init, nil)
			var closed *websocket.CloseError
			if !errors.As(err, &closed) || closed.Code != 4403 || closed.Text != want {
				t.Errorf("%s: websocket init %v: want close 4403 %q, got %v", name, init, want, err)
			}
		}
		// The legacy protocol has no close codes: connection_error.
		if _, err := srv.DialWebsocket(t, servertest.LegacyWS, map[string]any{"Authorization": "Bearer " + token}, nil); err == nil ||
			!strings.Contains(err.Error(), "connection_error") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: legacy websocket init: %v", name, err)
		}
	}
	// The genuine token still works on both.
	srv.Client(u.AccessToken).MustDo(t, `{ me { id } }`, nil, nil)
	ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + u.AccessToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := ws.Query(t, `{ me { id } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("genuine token over websocket: %s", r.ErrorSummary())
	}
	ws.Close()
}

// TestProductionLocksDown: with APP_ENV=production and nothing else said,
// introspection is off on every transport (__typename still answers),
// GraphiQL and the sandbox are not served, and no browser origin is
// allowed, for HTTP or websocket; native clients still connect.
func TestProductionLocksDown(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite) // JWT_SECRET: 64 bytes
	env["APP_ENV"] = "production"
	env["BCRYPT_COST"] = "10"
	delete(env, "CORS_ORIGINS")
	servertest.StripeEnv(env, "http://127.0.0.1:1") // required in production; nothing here calls Stripe
	srv := servertest.Start(t, env)

	ws, err := srv.DialWebsocket(t, servertest.TransportWS, nil, nil) // no Origin: a native app
	if err != nil {
		t.Fatalf("native websocket in production: %v", err)
	}
	defer ws.Close()
	for _, q := range []string{
		`{ __schema { types { name } } }`,
		`{ __type(name: "User") { fields { name } } }`,
		`query Sneaky { me: __schema { queryType { fields { name } } } }`,
	} {
		for name, r := range map[string]servertest.Response{
			"POST":      srv.Client("").Do(t, q, nil),
			"websocket": ws.Query(t, q, nil),
		} {
			if len(r.Errors) == 0 || strings.Contains(string(r.Data), "name") {
				t.Errorf("%s %s answered in production: %s", name, q, r.Data)
			}
		}
		_, _, body := secRequest(t, http.MethodGet, srv.URL+"/graphql?query="+url.QueryEscape(q), "", nil, false, nil)
		if !strings.Contains(string(body), `"errors"`) || strings.Contains(string(body), `"name"`) {
			t.Errorf("GET %s answered in production: %s", q, body)
		}
	}
	var typename struct {
		Typename string `json:"__typename"`
	}
	srv.Client("").MustDo(t, `{ __typename }`, nil, &typename)
	if typename.Typename != "Query" {
		t.Fatalf("__typename: %+v", typename)
	}
	for _, path := range []string{"/", "/sandbox/checkout/cs_x", "/sandbox/connect/acct_x/onboard"} {
		if r, body := srv.Get(t, path); r.StatusCode != http.StatusNotFound || strings.Contains(body, "GraphiQL") {
			t.Errorf("GET %s in production: %d", path, r.StatusCode)
		}
	}
	for _, origin := range []string{servertest.AllowedOrigin, "https://evil.example.com"} {
		_, h, _ := secRequest(t, http.MethodPost, srv.URL+"/graphql", "application/json", []byte(`{"query":"{ __typename }"}`), false, http.Header{"Origin": {origin}})
		if got := h.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("production allows origin %s: %q", origin, got)
		}
		if _, err := srv.DialWebsocket(t, servertest.TransportWS, nil, http.Header{"Origin": {origin}}); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
			t.Errorf("production websocket from %s: %v", origin, err)
		}
	}
}

// secretAudit sits in front of a test server as a reverse proxy: every
// response a client gets passes through it and is checked for secrets, and
// so is the server's log. Tokens may appear only in the response that
// issued them.
type secretAudit struct {
	t   *testing.T
	log *servertest.SyncBuffer

	mu      sync.Mutex
	secrets map[string]string // value → what it is: never in a response or a log line
	tokens  map[string]bool   // tokens and client secrets handed out so far
	checked int               // responses and messages checked
}

var (
	// Bearer values a response may hand to its own client, never to
	// anyone else and never to the log: tokens, and Stripe's client
	// secrets (which Stripe says are not to be logged).
	secIssuedTokens  = regexp.MustCompile(`"(?:accessToken|refreshToken|clientSecret)":"([^"]+)"`)
	secJWTShaped     = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}`)
	secRefreshShaped = regexp.MustCompile(`rt_[A-Za-z0-9_-]{40,}`)
)

// newSecretAudit returns the audit and the server as clients must see it:
// every helper of the copy (Client, Register, Get, PostWebhook,
// DialWebsocket) goes through the audit.
func newSecretAudit(t *testing.T, srv *servertest.Server) (*secretAudit, *servertest.Server) {
	a := &secretAudit{t: t, log: srv.Logs, tokens: map[string]bool{}, secrets: map[string]string{
		"$2a$": "a bcrypt hash", "$2b$": "a bcrypt hash", "$2y$": "a bcrypt hash",
		"sk_test_": "a Stripe secret key", "sk_live_": "a Stripe secret key", "whsec_": "a webhook signing secret",
	}}
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = a.inspect
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	through := *srv
	through.URL = front.URL
	return a, &through
}

// secret adds a value that must never be sent or logged.
func (a *secretAudit) secret(value, what string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.secrets[value] = what
}

func (a *secretAudit) inspect(resp *http.Response) error {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil // a websocket: its messages are checked as the test reads them
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var head strings.Builder
	_ = resp.Header.Write(&head)
	a.check(resp.Request.Method+" "+resp.Request.URL.Path, head.String()+string(body))
	return nil
}

// check looks for secrets, and for tokens other than those this very text
// hands out, in what a client was sent.
func (a *secretAudit) check(where, text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checked++
	for value, what := range a.secrets {
		if strings.Contains(text, value) {
			a.t.Errorf("%s: the response holds %s", where, what)
		}
	}
	// Two sign-ins of one user in the same second get the same access
	// token (its claims are the same), so a token handed out again is
	// fine; a token anywhere else is not.
	issued := map[string]bool{}
	for _, m := range secIssuedTokens.FindAllStringSubmatch(text, -1) {
		issued[m[1]] = true
	}
	for token := range a.tokens {
		if !issued[token] && strings.Contains(text, token) {
			a.t.Errorf("%s: the response holds a token handed out earlier", where)
		}
	}
	for token := range issued {
		a.tokens[token] = true
	}
}

// checkLog looks for every secret and token in the server's log lines
// that keep keeps.
func (a *secretAudit) checkLog(keep func(line string) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var lines []string
	for line := range strings.Lines(a.log.String()) {
		if keep(line) {
			lines = append(lines, line)
		}
	}
	log := strings.Join(lines, "")
	for value, what := range a.secrets {
		if strings.Contains(log, value) {
			a.t.Errorf("the log holds %s", what)
		}
	}
	for token := range a.tokens {
		if strings.Contains(log, token) {
			a.t.Errorf("the log holds a token or client secret handed to a client")
		}
	}
	if m := secJWTShaped.FindString(log); m != "" {
		a.t.Errorf("the log holds something shaped like a JWT: %.20s…", m)
	}
	if m := secRefreshShaped.FindString(log); m != "" {
		a.t.Errorf("the log holds something shaped like a refresh token: %.8s…", m)
	}
}

// TestNoSecretsInResponsesOrLogs runs sign-up, sign-in, token rotation and
// theft detection, bad credentials, deposits through Stripe (stripe-mock)
// and their webhooks, Connect, a job to a contract, websockets and a few
// probes for files, with every response checked on its way to the client
// and the whole log checked at the end: no password, bcrypt hash, JWT
// secret, Stripe key or webhook secret, and no token except in the
// response that issued it (docs/operations.md, Routes: logs never
// contain tokens or passwords).
func TestNoSecretsInResponsesOrLogs(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	servertest.StripeEnv(env, servertest.StripeMock(t))
	env["STRIPE_CONNECT_WEBHOOK_SECRET"] = "whsec_connect_audit"
	env["LOG_LEVEL"] = "debug"
	real := servertest.Start(t, env)
	audit, srv := newSecretAudit(t, real)
	audit.secret(env["JWT_SECRET"], "the JWT secret")
	audit.secret(env["STRIPE_SECRET_KEY"], "the Stripe secret key")
	audit.secret(env["STRIPE_WEBHOOK_SECRET"], "the webhook secret")
	audit.secret(env["STRIPE_CONNECT_WEBHOOK_SECRET"], "the Connect webhook secret")
	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	password, guess, weak := "Audit-"+hex.EncodeToString(nonce)+"-1", "Guess-"+hex.EncodeToString(nonce)+"-2", "Wk"+hex.EncodeToString(nonce[:2])
	audit.secret(password, "a user's password")
	audit.secret(guess, "a guessed password")
	audit.secret(weak, "a refused password")
	ctx := context.Background()
	anon := srv.Client("")

	// Accounts.
	signUp := func(email, role string) servertest.User {
		anon.MustDo(t, `mutation($in: RegisterInput!) { register(input: $in) { `+servertest.AuthFields+` } }`,
			map[string]any{"in": map[string]any{"email": email, "password": password, "name": "Audit " + role, "role": role}}, nil)
		return srv.Login(t, email, password)
	}
	customer := signUp("audit-customer@example.test", "CUSTOMER")
	contractor := signUp("audit-contractor@example.test", "CONTRACTOR")
	login := `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { ` + servertest.AuthFields + ` } }`
	anon.Do(t, login, map[string]any{"e": customer.Email, "p": guess}).RequireError(t, "UNAUTHENTICATED")
	anon.Do(t, login, map[string]any{"e": "nobody@example.test", "p": password}).RequireError(t, "UNAUTHENTICATED")
	register := `mutation($in: RegisterInput!) { register(input: $in) { user { id } } }`
	for _, in := range []map[string]any{
		{"email": customer.Email, "password": password, "name": "Again", "role": "CUSTOMER"}, // taken
		{"email": "weak@example.test", "password": weak, "name": "Weak", "role": "CUSTOMER"}, // too short
		{"email": "enum@example.test", "password": password, "name": "Enum", "role": "ROOT"}, // not a role
		{"email": "not an email", "password": password, "name": "X", "role": "CUSTOMER"},
	} {
		anon.Do(t, register, map[string]any{"in": in}).RequireError(t, "BAD_USER_INPUT")
	}
	refresh := `mutation($r: String!) { refreshToken(refreshToken: $r) { ` + servertest.AuthFields + ` } }`
	var rotated struct {
		RefreshToken struct{ Tokens struct{ RefreshToken string } }
	}
	anon.MustDo(t, refresh, map[string]any{"r": customer.RefreshToken}, &rotated)
	anon.Do(t, refresh, map[string]any{"r": customer.RefreshToken}).RequireError(t, "UNAUTHENTICATED") // reuse: theft
	anon.MustDo(t, `mutation($r: String!) { logout(refreshToken: $r) }`, map[string]any{"r": rotated.RefreshToken.Tokens.RefreshToken}, nil)
	customer = srv.Login(t, customer.Email, password)
	cc, kc := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken)
	cc.MustDo(t, `{ me { id email } stripeConfig { publishableKey } }`, nil, nil)
	for _, bad := range []string{"garbage", customer.RefreshToken, customer.AccessToken + "x"} {
		srv.Client(bad).Do(t, `{ me { id } }`, nil).RequireError(t, "UNAUTHENTICATED")
	}

	// Money: deposits through stripe-mock, then Stripe's events.
	cc.MustDo(t, `mutation { deposit(input: {amount: "25"}) { checkoutUrl deposit { id } } }`, nil, nil)
	cc.MustDo(t, `mutation { deposit(input: {amount: "30", paymentMethodId: "pm_card_visa"}) { clientSecret deposit { id } } }`, nil, nil)
	ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + customer.AccessToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	sub := ws.Subscribe(t, `subscription { walletUpdated { kind wallet { balance } transaction { id description } deposit { id } } }`, nil)
	ws.Query(t, `{ me { id } }`, nil) // subscribed before the event
	d := startedDeposit(t, real, customer.ID, 5000)
	ev := sessionCompleted(t, d, "evt_audit_1")
	if code := srv.PostWebhook(t, "/webhooks/stripe", ev, servertest.Sign(ev, servertest.WebhookSecret, time.Time{})); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	for {
		msg, err := ws.Read()
		if err != nil {
			t.Fatal(err)
		}
		audit.check("websocket message", string(msg.Payload))
		if msg.ID == sub && msg.Type == "next" {
			break
		}
	}
	for _, sig := range []string{servertest.Sign(ev, "whsec_wrong", time.Time{}), "t=1,v1=00", servertest.Sign(ev, servertest.WebhookSecret, time.Now().Add(-time.Hour))} {
		if code := srv.PostWebhook(t, "/webhooks/stripe", ev, sig); code != http.StatusBadRequest {
			t.Fatalf("bad signature: %d", code)
		}
	}
	if _, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"authToken": customer.RefreshToken}, nil); err == nil {
		t.Fatal("a refresh token opened a websocket")
	} else {
		audit.check("websocket refusal", err.Error())
	}

	// Payouts and a job to a contract.
	kc.MustDo(t, `mutation { createConnectAccount { accountId onboardingUrl } }`, nil, nil)
	kc.MustDo(t, `{ connectAccountStatus { accountId status } }`, nil, nil)
	cc.MustDo(t, `mutation { createFinancialConnectionsSession { sessionId clientSecret } }`, nil, nil)
	market := &authzWorld{srv: srv} // the matrix's builders, through the audit
	market.users[asOwner], market.users[asParty] = customer, contractor
	cc.MustDo(t, `query($id: ID!) { node(id: $id) { ... on Contract { escrow { amount } offer { totalCharge } } } }`,
		map[string]any{"id": market.acceptedContract(t)}, nil)
	cc.MustDo(t, `{ transactions { edges { node { id type description from { id email } to { id email } } } } wallet { balance escrowBalance } }`, nil, nil)

	// A password in a query string is refused (mutation over GET) and,
	// like every query string, never logged. Data files are not served.
	q := url.QueryEscape(fmt.Sprintf(`mutation { login(input: {email: %q, password: %q}) { user { id } } }`, customer.Email, password))
	if r, _ := srv.Get(t, "/graphql?query="+q); r.StatusCode < 400 {
		t.Fatalf("login over GET: %d", r.StatusCode)
	}
	for _, path := range []string{"/media/..%2fjobsphere.db", "/media/%2e%2e%2fjobsphere.db", "/media/..%2fjwt_secret", "/media/jobsphere.db"} {
		if r, _ := srv.Get(t, path); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, r.StatusCode)
		}
	}

	if n := real.App.Client.StripeEvent.Query().CountX(ctx); n != 1 {
		t.Fatalf("stripe events recorded: %d", n)
	}
	// Every line, stripe-go's debug lines included: Stripe's answers
	// (client secrets, onboarding links, emails) are never logged.
	audit.checkLog(func(string) bool { return true })
	if strings.Contains(real.Logs.String(), "_secret_") {
		t.Error("the log holds a Stripe client secret")
	}
	log := real.Logs.String()
	for _, want := range []string{`"msg":"http request"`, "stripe webhook refused"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q: is it captured?", want)
		}
	}
	if audit.checked < 40 {
		t.Fatalf("only %d responses went through the audit", audit.checked)
	}

	// A body that is not JSON is refused with a code, and is not echoed:
	// here it holds a password.
	broken := []byte(fmt.Sprintf(`{"query":"mutation { login(input: {email: \"%s\", password: \"%s\"}) { user { id } } }"`, customer.Email, password))
	status, _, echoed := secRequest(t, http.MethodPost, real.URL+"/graphql", "application/json", broken, false, nil)
	if status != http.StatusBadRequest || secErrorCode(echoed) != "BAD_REQUEST" || strings.Contains(string(echoed), password) {
		t.Errorf("malformed body: %d %.300s", status, echoed)
	}
	if strings.Contains(real.Logs.String(), password) {
		t.Error("the log holds the password of a malformed body")
	}
}
