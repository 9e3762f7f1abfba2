package servertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jobsphere/jobsphere/client/gqlclient"
)

// The two GraphQL websocket subprotocols clients speak: graphql-ws's
// current one and subscriptions-transport-ws's legacy one.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
)

// WS is a GraphQL websocket connection past connection_init.
type WS struct {
	conn     *websocket.Conn
	protocol string
	seq      int
}

// WSMessage is one message of either protocol.
type WSMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// DialWebsocket connects with the given subprotocol, sends connection_init
// with the payload and waits for the server's answer. A refused init is
// returned as an error saying what the server sent.
func (s *Server) DialWebsocket(t testing.TB, protocol string, initPayload map[string]any, header http.Header) (*WS, error) {
	t.Helper()
	ws, err := s.DialWebsocketRaw(t, protocol, header)
	if err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(initPayload)
	if err := ws.send(WSMessage{Type: "connection_init", Payload: payload}); err != nil {
		return nil, err
	}
	for {
		msg, err := ws.Read()
		if err != nil {
			return nil, fmt.Errorf("init refused: %w", err)
		}
		switch msg.Type {
		case "connection_ack":
			return ws, nil
		case "connection_error":
			return nil, fmt.Errorf("init refused: connection_error %s", msg.Payload)
		case "ka", "ping", "pong":
			continue
		default:
			return nil, fmt.Errorf("unexpected %q before connection_ack", msg.Type)
		}
	}
}

// DialWebsocketRaw connects with the given subprotocol and sends nothing:
// the test speaks for the client, connection_init included.
func (s *Server) DialWebsocketRaw(t testing.TB, protocol string, header http.Header) (*WS, error) {
	t.Helper()
	dialer := websocket.Dialer{Subprotocols: []string{protocol}, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := dialer.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/graphql", header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	t.Cleanup(func() { conn.Close() })
	if conn.Subprotocol() != protocol {
		return nil, fmt.Errorf("server chose subprotocol %q, want %q", conn.Subprotocol(), protocol)
	}
	return &WS{conn: conn, protocol: protocol}, nil
}

// SendRaw sends text as one message, as a client that breaks the
// protocol may.
func (ws *WS) SendRaw(t testing.TB, text string) {
	t.Helper()
	_ = ws.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := ws.conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		t.Fatal(err)
	}
}

// Read returns the next message, answering pings on the way. A close
// frame is returned as an error carrying its code and reason.
func (ws *WS) Read() (WSMessage, error) {
	for {
		_ = ws.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var msg WSMessage
		if err := ws.conn.ReadJSON(&msg); err != nil {
			return WSMessage{}, err
		}
		if msg.Type == "ping" && ws.protocol == TransportWS {
			if err := ws.send(WSMessage{Type: "pong"}); err != nil {
				return WSMessage{}, err
			}
			continue
		}
		if msg.Type == "ka" {
			continue
		}
		return msg, nil
	}
}

func (ws *WS) send(msg WSMessage) error {
	_ = ws.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return ws.conn.WriteJSON(msg)
}

// Query runs a single-result operation over the socket and returns its
// one result.
func (ws *WS) Query(t testing.TB, query string, vars map[string]any) Response {
	t.Helper()
	id := ws.Subscribe(t, query, vars)
	for {
		msg, err := ws.Read()
		if err != nil {
			t.Fatalf("read result: %v", err)
		}
		if msg.ID != id {
			continue
		}
		switch msg.Type {
		case "next", "data":
			var out Response
			if err := json.Unmarshal(msg.Payload, &out); err != nil {
				t.Fatalf("decode %s: %v", msg.Payload, err)
			}
			return out
		case "error":
			var errs []Error
			if err := json.Unmarshal(msg.Payload, &errs); err != nil {
				t.Fatalf("decode %s: %v", msg.Payload, err)
			}
			return Response{gqlclient.Response{Errors: errs}}
		default:
			t.Fatalf("unexpected %q message: %s", msg.Type, msg.Payload)
		}
	}
}

// Close sends a normal close.
func (ws *WS) Close() error {
	_ = ws.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	return ws.conn.Close()
}

// Subscribe starts a subscription and returns its id; read its results
// with Next.
func (ws *WS) Subscribe(t testing.TB, query string, vars map[string]any) string {
	t.Helper()
	ws.seq++
	id := fmt.Sprint(ws.seq)
	ws.SubscribeID(t, id, query, vars)
	return id
}

// SubscribeID starts an operation under an id of the caller's choosing,
// which may be one in use.
func (ws *WS) SubscribeID(t testing.TB, id, query string, vars map[string]any) {
	t.Helper()
	start := "subscribe"
	if ws.protocol == LegacyWS {
		start = "start"
	}
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err := ws.send(WSMessage{ID: id, Type: start, Payload: payload}); err != nil {
		t.Fatal(err)
	}
}

// Next returns the next result of any subscription on the connection,
// with the id it belongs to.
func (ws *WS) Next(t testing.TB) (string, Response) {
	t.Helper()
	for {
		msg, err := ws.Read()
		if err != nil {
			t.Fatalf("read subscription result: %v", err)
		}
		switch msg.Type {
		case "next", "data":
			var out Response
			if err := json.Unmarshal(msg.Payload, &out); err != nil {
				t.Fatalf("decode %s: %v", msg.Payload, err)
			}
			return msg.ID, out
		case "error":
			var errs []Error
			_ = json.Unmarshal(msg.Payload, &errs)
			return msg.ID, Response{gqlclient.Response{Errors: errs}}
		case "complete":
			continue
		default:
			t.Fatalf("unexpected %q message: %s", msg.Type, msg.Payload)
		}
	}
}

// Unsubscribe stops a subscription.
func (ws *WS) Unsubscribe(t testing.TB, id string) {
	t.Helper()
	stop := "complete"
	if ws.protocol == LegacyWS {
		stop = "stop"
	}
	if err := ws.send(WSMessage{ID: id, Type: stop}); err != nil {
		t.Fatal(err)
	}
}
