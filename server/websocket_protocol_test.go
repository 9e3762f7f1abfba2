package server_test

// What graphql-transport-ws (graphql-ws's PROTOCOL.md) requires of the
// server, message by message, and a subscription whose broker refuses it.

import (
	"encoding/json"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// wsRaw connects with protocol and sends nothing.
func wsRaw(t *testing.T, srv *servertest.Server, protocol string) *servertest.WS {
	t.Helper()
	ws, err := srv.DialWebsocketRaw(t, protocol, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// wsAnonymous is a graphql-transport-ws socket past an anonymous
// connection_init.
func wsAnonymous(t *testing.T, srv *servertest.Server) *servertest.WS {
	t.Helper()
	ws, err := srv.DialWebsocket(t, servertest.TransportWS, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// PROTOCOL.md, Ping: "The Ping message can be sent at any time within the
// established socket" and must be answered with a Pong. graphql-ws' client
// with keepAlive set may send one before connection_ack arrives.
func TestWebsocketPingBeforeAck(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	ws := wsRaw(t, srv, servertest.TransportWS)
	ws.SendRaw(t, `{"type":"ping"}`)
	if msg, err := ws.Read(); err != nil || msg.Type != "pong" {
		t.Fatalf("ping before connection_init: want pong, got %+v %v", msg, err)
	}
}

// PROTOCOL.md, ConnectionInit: a second connection_init closes the socket
// with 4429 "Too many initialisation requests".
func TestWebsocketSecondInit4429(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	ws := wsAnonymous(t, srv)
	ws.SendRaw(t, `{"type":"connection_init"}`)
	wsRequireClosed(t, ws, 4429, "Too many initialisation requests")
}

// PROTOCOL.md: "Receiving a message of a type or format which is not
// specified in this document will result in an immediate socket closure
// with the event 4400: <error-message>".
func TestWebsocketInvalidMessage4400(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	for name, tc := range map[string]struct{ raw, reason string }{
		"unknown type": {`{"type":"bogus"}`, "unexpected message"},
		"not json":     {`{`, "Invalid message: not JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			ws := wsAnonymous(t, srv)
			ws.SendRaw(t, tc.raw)
			wsRequireClosed(t, ws, 4400, tc.reason)
		})
	}
}

// PROTOCOL.md, Subscribe before ConnectionAck: "the server must close the
// socket with the event 4401: Unauthorized".
func TestWebsocketSubscribeBeforeInit4401(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	ws := wsRaw(t, srv, servertest.TransportWS)
	ws.SendRaw(t, `{"id":"1","type":"subscribe","payload":{"query":"{ __typename }"}}`)
	wsRequireClosed(t, ws, 4401, "Unauthorized: send connection_init first")
}

// PROTOCOL.md, Error: "This message terminates the operation and no further
// messages will be sent": no complete follows an operation's error.
func TestWebsocketNoCompleteAfterError(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	ws := wsAnonymous(t, srv)
	ws.SubscribeID(t, "bad", "{ noSuchField }", nil)
	if msg, err := ws.Read(); err != nil || msg.ID != "bad" || msg.Type != "error" {
		t.Fatalf("want error for a document that does not validate, got %+v %v", msg, err)
	}
	// The pong is the next message unless something else follows the error.
	ws.SendRaw(t, `{"type":"ping"}`)
	if msg, err := ws.Read(); err != nil || msg.Type != "pong" {
		t.Fatalf("after error: want nothing more for the operation, got %+v %v", msg, err)
	}
}

// A subscription whose Feed takes the transport's realtime.Signal and then
// fails (Broker.Receive errors: the broker is closed, NATS refused the
// subscription) is answered all the same: the resolver's error, not
// silence, and the operation gives up its place against
// WEBSOCKET_MAX_SUBSCRIPTIONS.
func TestWebsocketFailedFeedAnswered(t *testing.T) {
	srv := secStart(t, "WEBSOCKET_MAX_SUBSCRIPTIONS", "2")
	u := srv.Register(t, "CUSTOMER")
	ws := wsSignedIn(t, srv, servertest.TransportWS, u)
	if err := srv.App.Broker.Close(); err != nil {
		t.Fatal(err)
	}
	// Three in turn, one more than the cap: each is answered and ends.
	for range 3 {
		id := ws.Subscribe(t, wsWalletFeed, nil)
		msg := wsAwait(t, ws, id, "next")
		var resp servertest.Response
		if err := json.Unmarshal(msg.Payload, &resp); err != nil || len(resp.Errors) == 0 {
			t.Fatalf("a subscription its broker refused: %s, want its error", msg.Payload)
		}
		if resp.Errors[0].Code() == "SUBSCRIPTION_LIMIT_EXCEEDED" {
			t.Fatalf("a refused subscription kept its place: %s", msg.Payload)
		}
		wsAwait(t, ws, id, "complete")
	}
}

// TestWebsocketInitTimeoutCode: a socket that sends no connection_init is
// closed at WEBSOCKET_INIT_TIMEOUT with graphql-transport-ws's 4408, and
// with 1002 on the legacy protocol, which has no code of its own for it.
func TestWebsocketInitTimeoutCode(t *testing.T) {
	srv := secStart(t, "WEBSOCKET_INIT_TIMEOUT", "1s")
	for protocol, code := range map[string]int{servertest.TransportWS: 4408, servertest.LegacyWS: 1002} {
		t.Run(protocol, func(t *testing.T) {
			wsRequireClosed(t, wsRaw(t, srv, protocol), code, "Connection initialisation timeout")
		})
	}
}
