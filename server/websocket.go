package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/realtime"
)

// Close codes: RFC 6455's, and graphql-transport-ws's, sent on both
// protocols, but for the protocol errors graphql-transport-ws names
// (4400, 4401 before init, 4408, 4429), which graphql-ws closes with 1002.
const (
	closeNormal        websocket.StatusCode = 1000
	closeProtocolError websocket.StatusCode = 1002
	closeInternalError websocket.StatusCode = 1011
	closeBadMessage    websocket.StatusCode = 4400 // a message of no known type, or not JSON
	closeUnauthorized  websocket.StatusCode = 4401 // initialised without a token, past the init timeout; an operation before init
	closeForbidden     websocket.StatusCode = 4403 // a bad token at init, or the token expired
	closeInitTimeout   websocket.StatusCode = 4408 // no connection_init within the init timeout
	closeDuplicateID   websocket.StatusCode = 4409 // "Subscriber for <id> already exists"
	closeTooManyInits  websocket.StatusCode = 4429 // a second connection_init
)

// maxCloseReason is the longest reason a close frame carries.
const maxCloseReason = 123

// subscriptionLimitExceeded is the code of an operation refused because
// its socket has as many open as it may.
const subscriptionLimitExceeded = "SUBSCRIPTION_LIMIT_EXCEEDED"

const (
	// websocketBuffer is the size of a socket's read and write buffers,
	// which it holds as long as it is open (net/http's are 4 KiB each).
	// Larger messages are read and written in pieces.
	websocketBuffer = 256
	// writeTimeout bounds one message's write; a client that takes no
	// more of it by then is disconnected.
	writeTimeout = 10 * time.Second
	// keepAliveWriteTimeout bounds a keep-alive's write: the one goroutine
	// that sends them all must not wait long on any socket.
	keepAliveWriteTimeout = time.Second
)

// wsProtocol is what differs between the two GraphQL websocket protocols.
type wsProtocol struct {
	name      string
	start     string // the client starts an operation
	stop      string // the client stops one
	data      string // one result
	keepAlive string // sent every keepAliveInterval
	// legacy: refusals are also sent as connection_error, the client may
	// end with connection_terminate, "ka" follows the ack, and no pong is
	// due.
	legacy bool
}

// code is the close code for a protocol error graphql-transport-ws names;
// the legacy protocol has none of its own and closes with 1002.
func (p *wsProtocol) code(c websocket.StatusCode) websocket.StatusCode {
	if p.legacy {
		return closeProtocolError
	}
	return c
}

var (
	// graphql-ws's protocol.
	transportWS = &wsProtocol{name: "graphql-transport-ws", start: "subscribe", stop: "complete", data: "next", keepAlive: "ping"}
	// subscriptions-transport-ws's, also what a client naming no
	// subprotocol gets.
	legacyWS = &wsProtocol{name: "graphql-ws", start: "start", stop: "stop", data: "data", keepAlive: "ka", legacy: true}
)

// wsMessage is a message of either protocol.
type wsMessage struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
}

// websocketTransport serves GraphQL over websocket, both protocols, with
// gqlgen's executor, as gqlgen's own transport would, but cheaper to keep
// open: an idle socket holds one goroutine (its reader) and small
// buffers. The socket outlives the upgrade's handler, which returns, so
// that net/http's connection goroutine and buffers are freed; its access
// line still comes when it closes (see detachRequest). An operation runs
// on a goroutine of its own while it works, and a subscription waiting for
// its next event holds none: its realtime.Feed calls it when there is one
// (see realtime.Signal).
//
// A socket lives no longer than the token that authenticated it (or,
// without one, than the init timeout), runs at most maxSubscriptions
// operations at once, and is closed (4409) when an id already in use is
// started again. Each client address may hold so many sockets.
type websocketTransport struct {
	sockets          *socketSet
	authn            *auth.Service
	logger           *slog.Logger
	initTimeout      time.Duration
	maxSubscriptions int
	// maxMessage is the largest message a client may send, as large as
	// an HTTP body (MAX_BODY_BYTES; the websocket library's own limit is
	// 32 KiB); a larger one closes the socket with 1009.
	maxMessage int64
	addresses  *addressSockets
}

func newWebsocketTransport(cfg *config.Config, logger *slog.Logger, authn *auth.Service, sockets *socketSet) *websocketTransport {
	return &websocketTransport{
		sockets:          sockets,
		authn:            authn,
		logger:           WithRequestContext(logger),
		initTimeout:      cfg.WebsocketInitTimeout,
		maxSubscriptions: cfg.WebsocketMaxSubscriptions,
		maxMessage:       cfg.MaxBodyBytes,
		addresses:        &addressSockets{max: cfg.WebsocketPerAddress, open: map[string]int{}},
	}
}

func (t *websocketTransport) Supports(r *http.Request) bool { return websocketUpgrade(r) }

func (t *websocketTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	addr := auth.ClientIP(r.Context())
	if !t.addresses.add(addr) {
		respondError(w, http.StatusTooManyRequests, string(jobsphere.RateLimited),
			fmt.Sprintf("Too many open websockets from your address: the limit is %d", t.addresses.max))
		return
	}
	hijacked := &hijackBuffers{ResponseWriter: w}
	conn, err := websocket.Accept(hijacked, r, &websocket.AcceptOptions{
		Subprotocols:       []string{transportWS.name, legacyWS.name},
		InsecureSkipVerify: true, // websocketOrigins checked the origin
	})
	if err != nil {
		t.addresses.remove(addr) // Accept has answered the request
		return
	}
	conn.SetReadLimit(t.maxMessage)
	protocol := legacyWS
	if conn.Subprotocol() == transportWS.name {
		protocol = transportWS
	}
	// The request's values (its id, client address, viewer…) but not its
	// end: net/http cancels it once this handler returns. Closing the
	// socket cancels its operations, each.
	ctx := context.WithoutCancel(r.Context())
	s := &socket{
		t:           t,
		conn:        conn,
		netConn:     hijacked.conn,
		buffered:    hijacked.reader,
		protocol:    protocol,
		exec:        exec,
		ctx:         ctx,
		headerToken: r.Header.Get("Authorization") != "",
		operations:  map[string]*operation{},
	}
	closed := detachRequest(r.Context())
	go func() {
		defer closed()
		defer t.addresses.remove(addr)
		s.serve()
	}()
}

// hijackBuffers hands the websocket library buffers of websocketBuffer
// bytes, rather than the server's 4 KiB ones, when it takes the
// connection over, and keeps the connection and its read buffer for the
// socket's reader. A client that sent more than its handshake before the
// answer keeps the server's buffers, which hold those bytes.
type hijackBuffers struct {
	http.ResponseWriter
	conn   net.Conn
	reader *bufio.Reader
}

func (w *hijackBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *hijackBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if rw.Reader.Buffered() == 0 {
		rw = bufio.NewReadWriter(bufio.NewReaderSize(conn, websocketBuffer), bufio.NewWriterSize(conn, websocketBuffer))
	}
	w.conn, w.reader = conn, rw.Reader
	return conn, rw, nil
}

// socket is one GraphQL websocket: its connection, its reader's state and
// the operations it runs.
type socket struct {
	t           *websocketTransport
	conn        *websocket.Conn
	netConn     net.Conn      // under conn
	buffered    *bufio.Reader // conn's read buffer, where the reader waits
	protocol    *wsProtocol
	exec        graphql.GraphExecutor
	ctx         context.Context // the socket's: every operation runs under it
	headerToken bool            // the upgrade request had an Authorization header

	writeMu       sync.Mutex   // one message at a time
	slot          int          // its turn for keep-alives, in t.sockets
	ready         atomic.Bool  // initialised: keep-alives go out
	pingSent      atomic.Int64 // when the unanswered ping went out (UnixNano); 0: no pong due
	keepAliveOwed atomic.Bool  // its turn came during a write, which sends it after

	// Set by closeAt, on the socket's handling goroutines, one at a time.
	timer          *time.Timer // closes the socket at deadline
	deadline       time.Time
	deadlineCode   websocket.StatusCode
	deadlineReason string

	mu          sync.Mutex
	waiting     bool                 // the reader waits for the client's next message
	closeCode   websocket.StatusCode // 0 until the socket is closed
	closeReason string
	woken       bool                  // closed while the reader waited: it starts the close handshake
	operations  map[string]*operation // started and not yet ended
}

// serve reads the client's messages until the socket closes. The reader
// waits for each message in its buffer, which takes little stack, and
// reads and handles it on a goroutine of its own, waited for: the reader,
// which an idle socket keeps parked, then needs no more than the
// goroutine's smallest stack.
func (s *socket) serve() {
	defer func() {
		s.close(closeNormal, "terminated") // whatever ended the reading ends the socket
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.woken {
			_ = s.netConn.SetReadDeadline(time.Time{})
			s.handshake()
		}
	}()
	if !s.t.sockets.add(s) {
		return
	}
	defer s.t.sockets.remove(s)
	s.closeAt(time.Now().Add(s.t.initTimeout), s.protocol.code(closeInitTimeout), "Connection initialisation timeout")
	defer func() { s.timer.Stop() }()
	for s.wait() {
		handled := make(chan bool)
		go func() {
			defer s.recoverPanic(handled)
			_, data, err := s.conn.Read(context.Background())
			if err == nil {
				s.handle(data)
			}
			handled <- err == nil
		}()
		if !<-handled {
			return
		}
	}
}

// wait waits for the client's next message, or for the socket's close,
// which wakes it with a read deadline in the past; true when a message
// is there to read.
func (s *socket) wait() bool {
	s.mu.Lock()
	open := s.closeCode == 0
	s.waiting = open
	s.mu.Unlock()
	if !open {
		return false
	}
	_, err := s.buffered.Peek(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting = false
	return err == nil && s.closeCode == 0
}

// recoverPanic logs a panic in the handling of a message, closes the
// socket and tells the reader.
func (s *socket) recoverPanic(handled chan<- bool) {
	if v := recover(); v != nil {
		s.t.logger.LogAttrs(s.ctx, slog.LevelError, "panic", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
		s.close(closeInternalError, "internal error")
		handled <- false
	}
}

// handle acts on one message from the client. Nothing is handled past the
// socket's deadline, even if its timer is late.
func (s *socket) handle(data []byte) {
	start := graphql.Now()
	if !start.Before(s.deadline) {
		s.close(s.deadlineCode, s.deadlineReason)
		return
	}
	var msg wsMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		s.refuse(s.protocol.code(closeBadMessage), "Invalid message: not JSON")
		return
	}
	p := s.protocol
	switch {
	case msg.Type == "ping" && !p.legacy: // at any time, init or not
		s.write(wsMessage{Type: "pong", Payload: msg.Payload})
	case msg.Type == "pong" && !p.legacy:
		s.pingSent.Store(0)
	case msg.Type == "connection_terminate" && p.legacy:
		s.close(closeNormal, "terminated")
	case !s.ready.Load():
		s.init(msg)
	case msg.Type == p.start:
		s.start(msg, start)
	case msg.Type == p.stop:
		s.stop(msg.ID)
	case msg.Type == "connection_init":
		s.refuse(p.code(closeTooManyInits), "Too many initialisation requests")
	default:
		s.unexpected(msg.Type)
	}
}

// init takes the client's connection_init, authenticates the socket and
// acknowledges it; anything else first closes the socket.
func (s *socket) init(msg wsMessage) {
	switch {
	case msg.Type == s.protocol.start:
		s.refuse(s.protocol.code(closeUnauthorized), "Unauthorized: send connection_init first")
		return
	case msg.Type != "connection_init":
		s.unexpected(msg.Type)
		return
	}
	var payload transport.InitPayload
	if len(msg.Payload) > 0 && json.Unmarshal(msg.Payload, &payload) != nil {
		s.refuse(s.protocol.code(closeBadMessage), "Invalid message: the connection_init payload is not a JSON object")
		return
	}
	if !s.authenticate(payload) {
		return
	}
	s.write(wsMessage{Type: "connection_ack"})
	if s.protocol.legacy {
		s.write(wsMessage{Type: "ka"})
	}
	s.ready.Store(true)
}

// authenticate signs the socket in with the token in its connection_init
// payload ({"Authorization": "Bearer …"}, or {"authToken": "…"} as some
// Flutter clients send it), else from the upgrade request's Authorization
// header. A bad token refuses the socket with 4403 and the reason; no
// token makes an anonymous one, closed at the init timeout: every
// subscription needs a viewer, so it may only run public operations
// until then.
func (s *socket) authenticate(payload transport.InitPayload) bool {
	v, err := s.viewer(payload)
	switch {
	case err != nil:
		// The reason tells the client which (expired or invalid) without
		// internals.
		msg := err.Error()
		var appErr *jobsphere.Error
		if errors.As(err, &appErr) {
			msg = appErr.Message
		}
		s.refuse(closeForbidden, msg)
		return false
	case v == nil:
		s.closeAt(s.deadline, closeUnauthorized, "Authentication required: send an access token in connection_init")
		return true
	}
	// The client must reconnect with a fresh token.
	s.closeAt(v.ExpiresAt, closeForbidden, auth.TokenExpiredMessage)
	noteViewer(s.ctx, *v)
	s.ctx = auth.WithViewer(s.ctx, *v)
	return true
}

// viewer is who the socket's token names, or nil without a token. The
// header's token was verified by authenticate, whose verdict the request's
// context holds.
func (s *socket) viewer(payload transport.InitPayload) (*auth.Viewer, error) {
	token := bearerToken(payload.Authorization())
	if token == "" {
		token = payload.GetString("authToken")
	}
	var v auth.Viewer
	var err error
	switch {
	case token != "":
		v, err = s.t.authn.Authenticate(token)
	case s.headerToken:
		v, err = auth.ViewerFrom(s.ctx)
	default:
		return nil, nil
	}
	return &v, err
}

// closeAt has the socket closed at deadline with code and reason, in place
// of whatever closeAt said before.
func (s *socket) closeAt(deadline time.Time, code websocket.StatusCode, reason string) {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.deadline, s.deadlineCode, s.deadlineReason = deadline, code, reason
	s.timer = time.AfterFunc(time.Until(deadline), func() { s.close(code, reason) })
}

// unexpected refuses a message the socket cannot take now, or of no type
// its protocol has.
func (s *socket) unexpected(typ string) {
	s.connectionError("unexpected message " + typ)
	s.close(s.protocol.code(closeBadMessage), "unexpected message")
}

// refuse closes the socket with code and reason, which the legacy
// protocol, whose clients may not read close frames, also sends as a
// connection_error.
func (s *socket) refuse(code websocket.StatusCode, reason string) {
	s.connectionError(reason)
	s.close(code, reason)
}

func (s *socket) connectionError(msg string) {
	if s.protocol.legacy {
		payload, _ := json.Marshal(&gqlerror.Error{Message: msg})
		s.write(wsMessage{Type: "connection_error", Payload: payload})
	}
}

// close ends the socket, once, whoever asks first: every operation stops,
// and the close handshake starts. The handshake reads the client's
// answer, and the reader's buffer is not to be read by two: a reader
// waiting in it is woken (a read deadline in the past) and starts the
// handshake once it has stopped; one reading a message through the
// websocket library leaves it to the library, which takes turns.
func (s *socket) close(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeCode != 0 {
		return
	}
	s.closeCode, s.closeReason = code, reason
	for _, op := range s.operations {
		op.cancel()
	}
	if s.waiting {
		s.woken = true
		_ = s.netConn.SetReadDeadline(time.Unix(1, 0))
		return
	}
	s.handshake()
}

func (s *socket) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeCode != 0
}

// handshake runs the close handshake in the background: the websocket
// library waits up to 10 s for the client's answer. Called with s.mu held.
func (s *socket) handshake() {
	go s.conn.Close(s.closeCode, s.closeReason) //nolint:errcheck // the socket is gone either way
}

// write sends msg, and the keep-alive whose turn came meanwhile; a client
// that cannot take them loses the socket.
func (s *socket) write(msg wsMessage) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.send(msg, writeTimeout)
	if s.keepAliveOwed.Swap(false) {
		s.sendKeepAlive()
	}
}

// send writes msg within timeout, with s.writeMu held. The deadline is
// the connection's, not a context's, which the websocket library would
// keep until the next write.
func (s *socket) send(msg wsMessage, timeout time.Duration) {
	data, err := json.Marshal(msg)
	if err != nil {
		panic(fmt.Errorf("encode websocket message: %w", err))
	}
	_ = s.netConn.SetWriteDeadline(time.Now().Add(timeout))
	err = s.conn.Write(context.Background(), websocket.MessageText, data)
	_ = s.netConn.SetWriteDeadline(time.Time{})
	if err != nil {
		s.close(closeNormal, "terminated")
	}
}

// keepAlive sends the socket's keep-alive — or, while a message is being
// written, leaves it to that write to send after (the keep-alive
// goroutine does not wait; graphql-ws clients count only "ka") — and
// disconnects a graphql-transport-ws client that has not answered a ping
// in pongTimeout.
func (s *socket) keepAlive(now time.Time) {
	if !s.ready.Load() {
		return
	}
	if sent := s.pingSent.Load(); sent != 0 && now.Sub(time.Unix(0, sent)) >= pongTimeout {
		_ = s.conn.CloseNow()
		return
	}
	if !s.writeMu.TryLock() {
		s.keepAliveOwed.Store(true)
		return
	}
	defer s.writeMu.Unlock()
	s.sendKeepAlive()
}

// sendKeepAlive sends the keep-alive, with s.writeMu held. A ping's time is
// noted before it goes (unless one is unanswered already): its pong may
// come before the write returns.
func (s *socket) sendKeepAlive() {
	if !s.protocol.legacy {
		s.pingSent.CompareAndSwap(0, time.Now().UnixNano())
	}
	s.send(wsMessage{Type: s.protocol.keepAlive}, keepAliveWriteTimeout)
}

// operation is one operation a socket runs, under the id its client gave.
type operation struct {
	id     string
	ctx    context.Context
	cancel context.CancelFunc

	// mu is held while the operation starts, while it sends a result its
	// Feed signalled, and while it ends: a result never follows its
	// "complete".
	mu        sync.Mutex
	rc        *graphql.OperationContext
	responses graphql.ResponseHandler // nil until dispatched
	resultCtx context.Context         // the context responses takes
	fed       bool                    // a realtime.Feed signals its results
	done      bool
	// failed: an error message was sent, which on graphql-transport-ws
	// ends the operation without a "complete".
	failed atomic.Bool
}

// start begins an operation, unless its id is in use (the socket is then
// closed with 4409, as graphql-transport-ws specifies: gqlgen would take
// the first operation over and leave it running beyond reach) or the
// socket runs as many as it may.
func (s *socket) start(msg wsMessage, start time.Time) {
	s.mu.Lock()
	if s.closeCode != 0 {
		s.mu.Unlock()
		return
	}
	_, inUse := s.operations[msg.ID]
	full := len(s.operations) >= s.t.maxSubscriptions
	var op *operation
	if !inUse && !full {
		op = &operation{id: msg.ID}
		op.ctx, op.cancel = context.WithCancel(s.ctx)
		s.operations[msg.ID] = op
	}
	s.mu.Unlock()
	switch {
	case inUse:
		id := msg.ID
		if room := maxCloseReason - len("Subscriber for  already exists"); len(id) > room {
			id = strings.ToValidUTF8(id[:room], "")
		}
		s.close(closeDuplicateID, "Subscriber for "+id+" already exists")
	case full:
		refusal := graphQLError{Message: fmt.Sprintf("Too many subscriptions on this connection: the limit is %d", s.t.maxSubscriptions)}
		refusal.Extensions.Code = subscriptionLimitExceeded
		payload, _ := json.Marshal([]graphQLError{refusal})
		s.write(wsMessage{ID: msg.ID, Type: "error", Payload: payload})
	default:
		s.run(op, msg.Payload, start)
	}
}

// stop ends the client's operation id, if it runs.
func (s *socket) stop(id string) {
	s.mu.Lock()
	op := s.operations[id]
	s.mu.Unlock()
	if op == nil {
		return
	}
	// A query stops working; an operation waiting on its results gets
	// nil, and ends.
	op.cancel()
	op.mu.Lock()
	defer op.mu.Unlock()
	if !op.done && (op.fed || op.responses == nil) {
		s.end(op)
	}
}

// run prepares and dispatches op before the socket's next message is
// read, as gqlgen's transport does, so that operations start in the order
// they were sent (a refused subscription is answered before a query sent
// after it). A subscription fed by a realtime.Feed then returns: its
// results come with the Feed's signals. Anything else has its results sent
// from a goroutine of its own.
func (s *socket) run(op *operation, payload json.RawMessage, start time.Time) {
	op.mu.Lock()
	dispatched := s.guard(op, func() bool { return s.dispatch(op, payload, start) })
	if !dispatched && !op.done {
		s.end(op)
	}
	fed := op.fed
	op.mu.Unlock()
	if !dispatched || fed {
		return
	}
	go s.results(op)
}

// results sends op's results as they come, until its last.
func (s *socket) results(op *operation) {
	for {
		var resp *graphql.Response
		more := s.guard(op, func() bool {
			resp = op.responses(op.resultCtx)
			return resp != nil
		})
		op.mu.Lock()
		if !more || !s.result(op, resp) {
			if !op.done {
				s.end(op)
			}
			op.mu.Unlock()
			return
		}
		op.mu.Unlock()
	}
}

// dispatch prepares op, as gqlgen's transport does, and dispatches it
// with a realtime.Signal its Feed may take; false when op has ended
// instead.
func (s *socket) dispatch(op *operation, payload json.RawMessage, start time.Time) bool {
	if op.done || op.ctx.Err() != nil {
		if !op.done {
			s.end(op)
		}
		return false
	}
	ctx := graphql.StartOperationTrace(op.ctx)
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		s.fail(op, &gqlerror.Error{Message: "invalid json"})
		s.end(op)
		return false
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, errs := s.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := s.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			s.fail(op, resp.Errors...)
		} else {
			s.sendResponse(op.id, &graphql.Response{Errors: errs})
		}
		s.end(op)
		return false
	}
	op.rc = rc
	signal := &realtime.Signal{Ready: func() { s.signalled(op) }}
	ctx = realtime.WithSignal(graphql.WithOperationContext(ctx, rc), signal)
	op.responses, op.resultCtx = s.exec.DispatchOperation(ctx, rc)
	op.fed = signal.Claimed()
	return true
}

// signalled sends the result op's Feed has just made ready, or ends op
// when the Feed has closed. It runs on the Feed's goroutine.
func (s *socket) signalled(op *operation) {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.done {
		return
	}
	var resp *graphql.Response
	if !s.guard(op, func() bool { resp = op.responses(op.resultCtx); return resp != nil }) || !s.result(op, resp) {
		if !op.done {
			s.end(op)
		}
	}
}

// guard runs step and answers a panic in it as gqlgen's transport does:
// with an error message, after which op ends. It returns step's answer,
// or false after a panic.
func (s *socket) guard(op *operation, step func() bool) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			var err error
			if op.rc != nil {
				err = op.rc.Recover(op.ctx, v)
			} else {
				err = fmt.Errorf("%v", v)
			}
			var gqlErr *gqlerror.Error
			if !errors.As(err, &gqlErr) {
				gqlErr = &gqlerror.Error{Message: err.Error()}
			}
			s.fail(op, gqlErr)
			ok = false
		}
	}()
	return step()
}

// result sends one of op's results; false when op is over instead (its
// socket closed).
func (s *socket) result(op *operation, resp *graphql.Response) bool {
	if s.closed() {
		return false
	}
	s.sendResponse(op.id, resp)
	return true
}

// end forgets op, so that its id may be used again and it no longer
// counts against the cap, stops it, and tells the client, unless the
// socket itself is closing. Called with op.mu held.
func (s *socket) end(op *operation) {
	op.done = true
	s.mu.Lock()
	delete(s.operations, op.id)
	s.mu.Unlock()
	op.cancel()
	if op.fed {
		// What waits for the operation's end (the metrics' observer) sees
		// it: a cancelled operation's handler returns nil at once.
		op.responses(op.resultCtx)
	}
	if !s.closed() && (s.protocol.legacy || !op.failed.Load()) {
		s.write(wsMessage{ID: op.id, Type: "complete"})
	}
}

func (s *socket) sendResponse(id string, resp *graphql.Response) {
	payload, err := json.Marshal(resp)
	if err != nil {
		panic(fmt.Errorf("encode GraphQL response: %w", err))
	}
	s.write(wsMessage{ID: id, Type: s.protocol.data, Payload: payload})
}

// fail sends op's errors as an error message.
func (s *socket) fail(op *operation, errs ...*gqlerror.Error) {
	payload, err := json.Marshal(errs)
	if err != nil {
		panic(fmt.Errorf("encode GraphQL errors: %w", err))
	}
	op.failed.Store(true)
	s.write(wsMessage{ID: op.id, Type: "error", Payload: payload})
}

// addressSockets counts the open websockets of each client address.
type addressSockets struct {
	max  int // 0: no limit
	mu   sync.Mutex
	open map[string]int
}

// add counts one more socket from addr, unless it has max open already.
func (a *addressSockets) add(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.max > 0 && a.open[addr] >= a.max {
		return false
	}
	a.open[addr]++
	return true
}

func (a *addressSockets) remove(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.open[addr]--; a.open[addr] == 0 {
		delete(a.open, addr)
	}
}

// websocketUpgrade reports whether r asks for a websocket the way the
// websocket library decides it: "websocket" among the comma-separated
// tokens of any Upgrade header, in any case. Every middleware that treats
// upgrades apart asks this, so none can be passed by a spelling another
// takes.
func websocketUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for _, token := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(token), "websocket") {
				return true
			}
		}
	}
	return false
}

// websocketOrigins refuses a websocket upgrade from a browser origin not
// in the allow-list (cross-site websocket hijacking). A page of this
// server's own (the console at /admin) is always allowed.
func websocketOrigins(origins []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			if websocketUpgrade(r) && !originAllowed(origins, origin) && !sameHost(origin, r.Host) {
				http.Error(w, "websocket origin not allowed", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// sameHost reports whether a browser's Origin names the host the request
// was sent to: the page came from this server (a browser sets Origin; a
// page cannot).
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && strings.EqualFold(u.Host, host)
}
