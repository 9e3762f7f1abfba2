package server_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jobsphere/jobsphere/server/servertest"
)

const (
	wsWalletFeed = `subscription { walletUpdated { kind } }`
	wsCreateJob  = `mutation($in: CreateJobInput!) { createJob(input: $in) { id } }`
	wsExpired    = "Access token expired. Please refresh your session"
)

var wsJob = map[string]any{"in": map[string]any{"title": "Fix the sink", "description": "A leaking kitchen sink", "budget": "100", "category": "Plumbing"}}

var wsProtocols = []string{servertest.TransportWS, servertest.LegacyWS}

// TestWebsocketTokenExpiresWhateverCarriedIt: a socket lives no longer
// than the access token that authenticated it, whether the token came in
// connection_init or in the upgrade's Authorization header (with an empty
// connection_init), on both protocols: at expiry the server closes it
// with 4403 and the reason, subscriptions and all. A header token that no
// longer verifies is refused at init like one in connection_init.
func TestWebsocketTokenExpiresWhateverCarriedIt(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		env["ACCESS_TOKEN_TTL"] = "5s"
		srv := servertest.Start(t, env)
		u := srv.Register(t, "CUSTOMER")
		header := http.Header{"Authorization": {"Bearer " + u.AccessToken}}
		var sockets []*servertest.WS
		for _, protocol := range wsProtocols {
			for how, dial := range map[string]func() (*servertest.WS, error){
				"header": func() (*servertest.WS, error) { return srv.DialWebsocket(t, protocol, map[string]any{}, header) },
				"init":   func() (*servertest.WS, error) { return srv.DialWebsocket(t, protocol, wsInit(u), nil) },
			} {
				ws, err := dial()
				if err != nil {
					t.Fatalf("%s, token in %s: %v", protocol, how, err)
				}
				if r := ws.Query(t, wsCreateJob, wsJob); len(r.Errors) > 0 {
					t.Fatalf("%s, token in %s: createJob before expiry: %s", protocol, how, r.ErrorSummary())
				}
				ws.Subscribe(t, wsWalletFeed, nil)
				sockets = append(sockets, ws)
			}
		}
		for _, ws := range sockets {
			wsRequireClosed(t, ws, 4403, wsExpired)
		}
		srv.Client(u.AccessToken).Do(t, `{ me { id } }`, nil).RequireError(t, "UNAUTHENTICATED")
		for _, protocol := range wsProtocols {
			if _, err := srv.DialWebsocket(t, protocol, map[string]any{}, header); err == nil || !strings.Contains(err.Error(), wsExpired) {
				t.Errorf("%s: expired header token at init: %v", protocol, err)
			}
		}
	})
}

// TestWebsocketUnauthenticatedClosedAtInitTimeout: a socket that sends no
// connection_init is closed at WEBSOCKET_INIT_TIMEOUT; one initialised
// without a token runs public operations, is refused those that need a
// viewer (UNAUTHENTICATED), and is closed with 4401 at the same timeout.
// A signed-in socket outlives it.
func TestWebsocketUnauthenticatedClosedAtInitTimeout(t *testing.T) {
	srv := secStart(t, "WEBSOCKET_INIT_TIMEOUT", "2s")
	u := srv.Register(t, "CUSTOMER")
	for _, protocol := range wsProtocols {
		t.Run(protocol, func(t *testing.T) {
			signedIn := wsSignedIn(t, srv, protocol, u)

			silent, _, err := (&websocket.Dialer{Subprotocols: []string{protocol}}).Dial(wsURL(srv), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer silent.Close()
			_ = silent.SetReadDeadline(time.Now().Add(6 * time.Second))
			var closed *websocket.CloseError
			if _, _, err := silent.ReadMessage(); !errors.As(err, &closed) {
				t.Errorf("a socket without connection_init: want it closed, got %v", err)
			}

			anon, err := srv.DialWebsocket(t, protocol, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := anon.Query(t, `{ stripeConfig { sandbox } }`, nil); len(r.Errors) > 0 {
				t.Errorf("public query on an anonymous socket: %s", r.ErrorSummary())
			}
			anon.Query(t, `{ me { id } }`, nil).RequireError(t, "UNAUTHENTICATED")
			anon.Query(t, wsCreateJob, wsJob).RequireError(t, "UNAUTHENTICATED")
			anon.Query(t, wsWalletFeed, nil).RequireError(t, "UNAUTHENTICATED")
			wsRequireClosed(t, anon, 4401, "Authentication required: send an access token in connection_init")

			if r := signedIn.Query(t, `{ me { id } }`, nil); len(r.Errors) > 0 {
				t.Errorf("signed-in socket after the init timeout: %s", r.ErrorSummary())
			}
		})
	}
}

// TestWebsocketSubscriptionCap: past WEBSOCKET_MAX_SUBSCRIPTIONS open
// operations, a socket's next one is refused with an error saying so;
// stopping one makes room.
func TestWebsocketSubscriptionCap(t *testing.T) {
	srv := secStart(t, "WEBSOCKET_MAX_SUBSCRIPTIONS", "3")
	u := srv.Register(t, "CUSTOMER")
	for _, protocol := range wsProtocols {
		t.Run(protocol, func(t *testing.T) {
			ws := wsSignedIn(t, srv, protocol, u)
			defer ws.Close()
			first := ws.Subscribe(t, wsWalletFeed, nil)
			ws.Subscribe(t, wsWalletFeed, nil)
			ws.Subscribe(t, wsWalletFeed, nil)
			over := ws.Subscribe(t, wsWalletFeed, nil)
			msg := wsAwait(t, ws, over, "error")
			var errs []servertest.Error
			if err := json.Unmarshal(msg.Payload, &errs); err != nil || len(errs) != 1 ||
				errs[0].Code() != "SUBSCRIPTION_LIMIT_EXCEEDED" || errs[0].Message != "Too many subscriptions on this connection: the limit is 3" {
				t.Fatalf("the subscription over the cap: %s", msg.Payload)
			}

			ws.Unsubscribe(t, first)
			wsAwait(t, ws, first, "complete")
			if r := ws.Query(t, `{ me { id } }`, nil); len(r.Errors) > 0 {
				t.Fatalf("after one stopped: %s", r.ErrorSummary())
			}
		})
	}
}

// TestWebsocketDuplicateOperationID: a subscribe under an id already in
// use closes the socket with 4409, as graphql-transport-ws specifies, and
// leaves no subscription running.
func TestWebsocketDuplicateOperationID(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	u := srv.Register(t, "CUSTOMER")
	for _, protocol := range wsProtocols {
		t.Run(protocol, func(t *testing.T) {
			ws := wsSignedIn(t, srv, protocol, u)
			for range 3 {
				ws.SubscribeID(t, "feed", wsWalletFeed, nil)
			}
			wsRequireClosed(t, ws, 4409, "Subscriber for feed already exists")
			waitFor(t, func() bool { return srv.App.Broker.Subscriptions() == 0 })
			if n := srv.App.Broker.Subscriptions(); n != 0 {
				t.Fatalf("%d subscriptions left running", n)
			}
		})
	}
}

// TestWebsocketLimitPerAddress: one client address (X-Forwarded-For
// through TRUSTED_PROXY_HOPS, as for the sign-in limits) may hold
// WEBSOCKET_LIMIT_PER_ADDRESS sockets; the next upgrade is answered 429
// RATE_LIMITED until one closes. Other addresses are not affected.
func TestWebsocketLimitPerAddress(t *testing.T) {
	srv := secStart(t, "WEBSOCKET_LIMIT_PER_ADDRESS", "2", "TRUSTED_PROXY_HOPS", "1")
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
	var open []*servertest.WS
	for range 2 {
		ws, err := srv.DialWebsocket(t, servertest.TransportWS, nil, from("203.0.113.7"))
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, ws)
	}
	resp := wsRawUpgrade(t, srv, from("203.0.113.7"))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || secErrorCode(body) != "RATE_LIMITED" ||
		!strings.Contains(string(body), "Too many open websockets from your address: the limit is 2") {
		t.Fatalf("third socket from one address: %d %s", resp.StatusCode, body)
	}
	if _, err := srv.DialWebsocket(t, servertest.TransportWS, nil, from("203.0.113.8")); err != nil {
		t.Fatalf("another address: %v", err)
	}
	_ = open[0].Close()
	var err error
	waitFor(t, func() bool {
		_, err = srv.DialWebsocket(t, servertest.TransportWS, nil, from("203.0.113.7"))
		return err == nil
	})
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
}

// TestWebsocketUpgradeTokenList: Upgrade is a comma-separated token list,
// in any case, possibly over several header lines; every form the
// websocket library accepts is checked against CORS_ORIGINS and counted
// in jobsphere_websocket_connections.
func TestWebsocketUpgradeTokenList(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	upgrades := [][]string{{"websocket"}, {"websocket, h2c"}, {"h2c,WebSocket"}, {"h2c", "websocket"}}
	for _, upgrade := range upgrades {
		resp := wsRawUpgrade(t, srv, http.Header{"Upgrade": upgrade, "Origin": {"http://evil.example.test"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("Upgrade %q from a foreign origin: %d", upgrade, resp.StatusCode)
		}
	}
	for i, upgrade := range upgrades {
		if resp := wsRawUpgrade(t, srv, http.Header{"Upgrade": upgrade, "Origin": {servertest.AllowedOrigin}}); resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("Upgrade %q from the allowed origin: %d", upgrade, resp.StatusCode)
		}
		waitForMetric(t, srv, "jobsphere_websocket_connections", nil, float64(i+1))
	}
}

// wsInit is the connection_init payload that signs u in.
func wsInit(u servertest.User) map[string]any {
	return map[string]any{"Authorization": "Bearer " + u.AccessToken}
}

// wsSignedIn is a socket signed in as u in its connection_init.
func wsSignedIn(t *testing.T, srv *servertest.Server, protocol string, u servertest.User) *servertest.WS {
	t.Helper()
	ws, err := srv.DialWebsocket(t, protocol, wsInit(u), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// wsURL is the server's GraphQL websocket endpoint.
func wsURL(srv *servertest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
}

// wsRawUpgrade sends a websocket handshake by hand, with header over the
// usual fields, and returns the answer; on 101 the socket stays open
// until the test ends.
func wsRawUpgrade(t *testing.T, srv *servertest.Server, header http.Header) *http.Response {
	t.Helper()
	u, err := url.Parse(wsURL(srv))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u.Scheme = "http"
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = http.Header{
		"Upgrade":                {"websocket"},
		"Connection":             {"Upgrade"},
		"Sec-Websocket-Version":  {"13"},
		"Sec-Websocket-Key":      {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Protocol": {servertest.TransportWS},
	}
	for k, v := range header {
		req.Header[k] = v
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// wsAwait reads up to the message of the given type for operation id.
func wsAwait(t *testing.T, ws *servertest.WS, id, typ string) servertest.WSMessage {
	t.Helper()
	for {
		msg, err := ws.Read()
		if err != nil {
			t.Fatalf("waiting for %s of %s: %v", typ, id, err)
		}
		if msg.ID == id && msg.Type == typ {
			return msg
		}
	}
}

// wsRequireClosed reads until the server closes the socket and checks the
// close frame.
func wsRequireClosed(t *testing.T, ws *servertest.WS, code int, reason string) {
	t.Helper()
	for {
		_, err := ws.Read()
		if err == nil {
			continue
		}
		var closed *websocket.CloseError
		if !errors.As(err, &closed) || closed.Code != code || closed.Text != reason {
			t.Errorf("want close %d %q, got %v", code, reason, err)
		}
		return
	}
}

// TestWebsocketMessageSizeLimit: a message may be as large as an HTTP
// body (MAX_BODY_BYTES, 1 MiB by default, as gqlgen's limit was; the
// websocket library's own is 32 KiB): one that fits is read, a larger one
// closes the socket with 1009.
func TestWebsocketMessageSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		maxBodyBytes string // MAX_BODY_BYTES; "": the default, 1 MiB
		fits, over   int    // a message's padding that fits, and one over
	}{
		{"", 100_000, 1 << 20},
		{"4096", 2000, 5000},
	} {
		t.Run("MAX_BODY_BYTES="+tc.maxBodyBytes, func(t *testing.T) {
			env := servertest.Env(t, servertest.SQLite)
			if tc.maxBodyBytes != "" {
				env["MAX_BODY_BYTES"] = tc.maxBodyBytes
			}
			srv := servertest.Start(t, env)
			ws, err := srv.DialWebsocket(t, servertest.TransportWS, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := ws.Query(t, "{ __typename }"+strings.Repeat(" ", tc.fits), nil); len(r.Errors) > 0 {
				t.Fatalf("a message of %d bytes: %s", tc.fits, r.ErrorSummary())
			}
			ws.SubscribeID(t, "big", "{ __typename }"+strings.Repeat(" ", tc.over), nil)
			for {
				_, err := ws.Read()
				if err == nil {
					continue
				}
				if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
					t.Fatalf("want close 1009, got %v", err)
				}
				return
			}
		})
	}
}

// TestWebsocketExpiresAfterControlFrames: a client that sends websocket
// pings of its own (control frames, as Flutter's pingInterval does) still
// has its socket closed at token expiry, with 4403, on both protocols.
func TestWebsocketExpiresAfterControlFrames(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	env["ACCESS_TOKEN_TTL"] = "2s"
	srv := servertest.Start(t, env)
	for _, protocol := range wsProtocols {
		t.Run(protocol, func(t *testing.T) {
			u := srv.Register(t, "CUSTOMER")
			conn, _, err := (&websocket.Dialer{Subprotocols: []string{protocol}}).Dial(wsURL(srv), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteJSON(servertest.WSMessage{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + u.AccessToken + `"}`)}); err != nil {
				t.Fatal(err)
			}
			var ack servertest.WSMessage
			if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
				t.Fatalf("ack: %+v %v", ack, err)
			}
			if err := conn.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			for {
				_, _, err := conn.ReadMessage()
				if err == nil {
					continue
				}
				var closed *websocket.CloseError
				if !errors.As(err, &closed) || closed.Code != 4403 || closed.Text != wsExpired {
					t.Fatalf("want close 4403 %q, got %v", wsExpired, err)
				}
				return
			}
		})
	}
}
