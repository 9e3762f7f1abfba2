package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/server/servertest"
)

func TestWebsocketAuthentication(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	customer := srv.Register(t, "CUSTOMER")

	for _, protocol := range []string{servertest.TransportWS, servertest.LegacyWS} {
		t.Run(protocol, func(t *testing.T) {
			ws, err := srv.DialWebsocket(t, protocol, map[string]any{"Authorization": "Bearer " + customer.AccessToken}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			resp := ws.Query(t, meQuery, nil)
			var me meResult
			if len(resp.Errors) > 0 || json.Unmarshal(resp.Data, &me) != nil || me.Me.ID != customer.ID {
				t.Fatalf("me over websocket: %s %s", resp.Data, resp.ErrorSummary())
			}

			// A bad token is refused at connection_init.
			if _, err := srv.DialWebsocket(t, protocol, map[string]any{"Authorization": "Bearer not-a-token"}, nil); err == nil {
				t.Fatal("bad token accepted at init")
			} else if !strings.Contains(err.Error(), "Invalid access token") {
				t.Fatalf("refusal does not say why: %v", err)
			}

			// No token: connected, but protected fields say so.
			anon, err := srv.DialWebsocket(t, protocol, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			anon.Query(t, meQuery, nil).RequireError(t, "UNAUTHENTICATED")
		})
	}

	// Browser origins must be on the allow-list; native clients send none.
	header := http.Header{"Origin": {servertest.AllowedOrigin}}
	if _, err := srv.DialWebsocket(t, servertest.TransportWS, nil, header); err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	header.Set("Origin", "http://evil.example.test")
	if _, err := srv.DialWebsocket(t, servertest.TransportWS, nil, header); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("foreign origin: %v", err)
	}
}

func TestQueryLimits(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	env["GRAPHQL_MAX_DEPTH"] = "2"
	env["GRAPHQL_MAX_COMPLEXITY"] = "10"
	env["MAX_BODY_BYTES"] = "2048"
	srv := servertest.Start(t, env)
	// Registered directly: the register mutation itself is deeper than 2.
	sess, err := srv.App.Auth.Register(context.Background(), auth.RegisterInput{
		Email: "deep@example.test", Password: servertest.TestPassword, Name: "Deep", Role: role.Customer,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client(sess.Tokens.AccessToken)

	e := c.Do(t, `{ me { rating { average } } }`, nil).RequireError(t, "DEPTH_LIMIT_EXCEEDED")
	if !strings.Contains(e.Message, "depth 3 exceeds the limit of 2") {
		t.Fatalf("depth message: %q", e.Message)
	}
	// Fragments count as deep as what they spread.
	c.Do(t, `{ me { ...R } } fragment R on User { rating { count } }`, nil).RequireError(t, "DEPTH_LIMIT_EXCEEDED")

	costly := "{ me { " + aliases(12) + " } }"
	c.Do(t, costly, nil).RequireError(t, "COMPLEXITY_LIMIT_EXCEEDED")

	// A body over MAX_BODY_BYTES is refused with 413 before GraphQL runs.
	big := `{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", 4096) + `"}}`
	resp := c.Post(t, "application/json", strings.NewReader(big))
	if resp.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: status %d", resp.Status)
	}
}

func aliases(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" a")
		b.WriteString(strings.Repeat("b", i))
		b.WriteString(": id")
	}
	return b.String()
}

func TestOperationalEndpoints(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		for path, want := range map[string]string{
			"/healthz": `"ok"`,
			"/readyz":  `"ready"`,
			"/":        "GraphiQL",
		} {
			resp, body := srv.Get(t, path)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
				t.Fatalf("GET %s: %d %.200s", path, resp.StatusCode, body)
			}
			if resp.Header.Get("X-Request-ID") == "" {
				t.Fatalf("GET %s: no X-Request-ID", path)
			}
		}
		srv.Register(t, "CUSTOMER")
		_, metrics := srv.Get(t, "/metrics")
		if !strings.Contains(metrics, `jobsphere_http_requests_total{code="200",method="post",route="/graphql"}`) {
			t.Fatalf("metrics lack the GraphQL request counter:\n%.2000s", metrics)
		}
		// /query is an alias of /graphql.
		c := srv.Client("")
		c.URL = srv.URL + "/query"
		var out struct {
			Typename string `json:"__typename"`
		}
		c.MustDo(t, `{ __typename }`, nil, &out)
		if out.Typename != "Query" {
			t.Fatalf("/query: %+v", out)
		}
	})
}

func TestProductionHidesIntrospectionAndGraphiQL(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	env["APP_ENV"] = "production"
	env["BCRYPT_COST"] = "10"
	env["STRIPE_SECRET_KEY"], env["STRIPE_PUBLISHABLE_KEY"], env["STRIPE_WEBHOOK_SECRET"] = "sk_test_1", "pk_test_1", "whsec_1"
	srv := servertest.Start(t, env)
	resp := srv.Client("").Do(t, `{ __schema { queryType { name } } }`, nil)
	if len(resp.Errors) == 0 {
		t.Fatalf("introspection answered in production: %s", resp.Data)
	}
	if r, _ := srv.Get(t, "/"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("GraphiQL in production: %d", r.StatusCode)
	}
}

// TestInternalErrorsLeakNothing: when the database is gone, the client
// gets INTERNAL and a plain message; the log has the detail.
func TestInternalErrorsLeakNothing(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	c := srv.Client(srv.Register(t, "CUSTOMER").AccessToken)
	if err := srv.App.DB.Close(); err != nil {
		t.Fatal(err)
	}
	e := c.Do(t, meQuery, nil).RequireError(t, "INTERNAL")
	if e.Message != "Internal server error" {
		t.Fatalf("internal error leaked: %q", e.Message)
	}
	if !strings.Contains(srv.Logs.String(), "database is closed") {
		t.Fatal("the cause was not logged")
	}
	if resp, _ := srv.Get(t, "/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database closed: %d", resp.StatusCode)
	}
}

// TestHTTPTransports: GET queries, automatic persisted queries (as Apollo's
// persisted-queries link sends them) and CORS preflight from an allowed
// browser origin.
func TestHTTPTransports(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)

	resp, body := srv.Get(t, "/graphql?query="+url.QueryEscape("{ __typename }"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"__typename":"Query"`) {
		t.Fatalf("GET query: %d %s", resp.StatusCode, body)
	}

	query := "{ __typename }"
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	post := func(withQuery bool) servertest.Response {
		payload := map[string]any{"extensions": ext}
		if withQuery {
			payload["query"] = query
		}
		raw, _ := json.Marshal(payload)
		return srv.Client("").Post(t, "application/json", bytes.NewReader(raw))
	}
	if r := post(false); len(r.Errors) != 1 || r.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown hash: %s", r.ErrorSummary())
	}
	if r := post(true); len(r.Errors) != 0 {
		t.Fatalf("register persisted query: %s", r.ErrorSummary())
	}
	if r := post(false); len(r.Errors) != 0 || !strings.Contains(string(r.Data), "Query") {
		t.Fatalf("persisted query by hash: %s %s", r.Data, r.ErrorSummary())
	}

	for origin, allowed := range map[string]bool{servertest.AllowedOrigin: true, "http://evil.example.test": false} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin") == origin; got != allowed {
			t.Fatalf("preflight from %s: allow-origin %q", origin, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

// TestUnsupportedRequests: a request no transport takes (curl -d without
// a JSON Content-Type, another method) is answered in the GraphQL error
// shape with BAD_REQUEST and the Content-Type to use: 415 for a POST, 405
// with Allow for another method.
func TestUnsupportedRequests(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	for _, tt := range []struct {
		method, contentType string
		status              int
		says                string
	}{
		{http.MethodPost, "", http.StatusUnsupportedMediaType, "A GraphQL POST with no Content-Type is not supported"},
		{http.MethodPost, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, "Content-Type application/x-www-form-urlencoded"}, // curl -d
		{http.MethodPost, "text/plain; charset=utf-8", http.StatusUnsupportedMediaType, "Content-Type text/plain is"},
		{http.MethodPost, "application/graphql", http.StatusUnsupportedMediaType, "Content-Type application/graphql is"},
		{http.MethodPost, "json, please", http.StatusUnsupportedMediaType, "an unreadable Content-Type"},
		{http.MethodPut, "application/json", http.StatusMethodNotAllowed, "Method PUT is not supported"},
		{http.MethodDelete, "", http.StatusMethodNotAllowed, "Method DELETE is not supported"},
	} {
		req, err := http.NewRequest(tt.method, srv.URL+"/graphql", strings.NewReader(`{"query":"{__typename}"}`))
		if err != nil {
			t.Fatal(err)
		}
		if tt.contentType != "" {
			req.Header.Set("Content-Type", tt.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		decodeErr := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %q: %d %s", tt.method, tt.contentType, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if tt.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, POST, OPTIONS" {
			t.Errorf("%s: Allow %q", tt.method, resp.Header.Get("Allow"))
		}
		if decodeErr != nil || len(body.Errors) != 1 || body.Errors[0].Extensions.Code != "BAD_REQUEST" ||
			!strings.Contains(body.Errors[0].Message, tt.says) ||
			!strings.Contains(body.Errors[0].Message, `"Content-Type: application/json"`) || !strings.Contains(body.Errors[0].Message, "GET with ?query=") {
			t.Errorf("%s %q: %+v %v", tt.method, tt.contentType, body, decodeErr)
		}
	}
	// What the hint says works.
	resp, err := http.Post(srv.URL+"/graphql", "application/json", strings.NewReader(`{"query":"{__typename}"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST application/json: %d", resp.StatusCode)
	}
}
