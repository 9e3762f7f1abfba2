package server_test

// What graphql-transport-ws (graphql-ws's PROTOCOL.md) requires of the
// server, message by message, and a subscription whose broker refuses it.

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// rawTransportWS dials graphql-transport-ws without sending connection_init.
func rawTransportWS(t *testing.T, srv *servertest.Server) *websocket.Conn {
	t.Helper()
	conn, _, err := (&websocket.Dialer{Subprotocols: []string{servertest.TransportWS}}).Dial(wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// initialised dials graphql-transport-ws and has it acknowledge an
// anonymous connection_init.
func initialised(t *testing.T, srv *servertest.Server) *websocket.Conn {
	t.Helper()
	conn := rawTransportWS(t, srv)
	sendRaw(t, conn, `{"type":"connection_init"}`)
	if msg, err := nextMessage(conn); err != nil || msg.Type != "connection_ack" {
		t.Fatalf("ack: %+v %v", msg, err)
	}
	return conn
}

func sendRaw(t *testing.T, conn *websocket.Conn, raw string) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(raw)); err != nil {
		t.Fatal(err)
	}
}

// nextMessage reads the next message, skipping server pings (answered).
func nextMessage(conn *websocket.Conn) (servertest.WSMessage, error) {
	for {
		var msg servertest.WSMessage
		_, data, err := conn.ReadMessage()
		if err != nil {
			return msg, err
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			return msg, err
		}
		if msg.Type == "ping" {
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
			continue
		}
		return msg, nil
	}
}

func requireClose(t *testing.T, conn *websocket.Conn, code int) {
	t.Helper()
	for {
		msg, err := nextMessage(conn)
		if err == nil {
			t.Logf("message before close: %+v", msg)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Errorf("want close %d, got %v", code, err)
		}
		return
	}
}

// PROTOCOL.md, Ping: "The Ping message can be sent at any time within the
// established socket" and must be answered with a Pong. graphql-ws' client
// with keepAlive set may send one before connection_ack arrives. The server
// closes the socket with 1002 "unexpected message" instead.
func TestWebsocketPingBeforeAck(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	conn := rawTransportWS(t, srv)
	sendRaw(t, conn, `{"type":"ping"}`)
	msg, err := nextMessage(conn)
	if err != nil || msg.Type != "pong" {
		t.Fatalf("ping before connection_init: want pong, got %+v %v", msg, err)
	}
}

// PROTOCOL.md, ConnectionInit: a second connection_init closes the socket
// with 4429 "Too many initialisation requests".
func TestWebsocketSecondInit4429(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	conn := initialised(t, srv)
	sendRaw(t, conn, `{"type":"connection_init"}`)
	requireClose(t, conn, 4429)
}

// PROTOCOL.md: "Receiving a message of a type or format which is not
// specified in this document will result in an immediate socket closure
// with the event 4400: <error-message>".
func TestWebsocketInvalidMessage4400(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	for name, raw := range map[string]string{"unknown type": `{"type":"bogus"}`, "not json": `{`} {
		t.Run(name, func(t *testing.T) {
			conn := initialised(t, srv)
			sendRaw(t, conn, raw)
			requireClose(t, conn, 4400)
		})
	}
}

// PROTOCOL.md, Subscribe before ConnectionAck: "the server must close the
// socket with the event 4401: Unauthorized".
func TestWebsocketSubscribeBeforeInit4401(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	conn := rawTransportWS(t, srv)
	sendRaw(t, conn, `{"id":"1","type":"subscribe","payload":{"query":"{ __typename }"}}`)
	requireClose(t, conn, 4401)
}

// PROTOCOL.md, Error: "This message terminates the operation and no further
// messages will be sent": no complete follows an operation's error.
func TestWebsocketNoCompleteAfterError(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	conn := initialised(t, srv)
	sendRaw(t, conn, `{"id":"bad","type":"subscribe","payload":{"query":"{ noSuchField }"}}`)
	msg, err := nextMessage(conn)
	if err != nil || msg.ID != "bad" || msg.Type != "error" {
		t.Fatalf("want error for a document that does not validate, got %+v %v", msg, err)
	}
	// The pong is the next message unless something else follows the error.
	sendRaw(t, conn, `{"type":"ping"}`)
	if msg, err := nextMessage(conn); err != nil || msg.Type != "pong" {
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
			conn, _, err := (&websocket.Dialer{Subprotocols: []string{protocol}}).Dial(wsURL(srv), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			requireClose(t, conn, code)
		})
	}
}
