package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/config"
)

// Close codes of graphql-transport-ws, sent on both protocols.
const (
	closeUnauthorized = 4401 // initialised without a token, past the init timeout
	closeForbidden    = 4403 // a bad token at init, or the token expired
	closeDuplicateID  = 4409 // "Subscriber for <id> already exists"
)

// maxCloseReason is the longest reason a close frame carries.
const maxCloseReason = 123

// subscriptionLimitExceeded is the code of an operation refused because
// its socket has as many open as it may.
const subscriptionLimitExceeded = "SUBSCRIPTION_LIMIT_EXCEEDED"

// websocketTransport is gqlgen's websocket transport with this server's
// rules around each socket (see socket) and a cap on the sockets one
// client address holds.
type websocketTransport struct {
	transport.Websocket
	authn            *auth.Service
	maxSubscriptions int
	addresses        *addressSockets
}

func newWebsocketTransport(cfg *config.Config, authn *auth.Service) websocketTransport {
	return websocketTransport{
		Websocket: transport.Websocket{
			// Origins are checked by websocketOrigins before the upgrade.
			Implementation: transport.CoderWebsocketImplementation{
				AcceptOptions: websocket.AcceptOptions{InsecureSkipVerify: true},
			},
			InitTimeout:           cfg.WebsocketInitTimeout,
			KeepAlivePingInterval: 15 * time.Second,
			PingPongInterval:      20 * time.Second,
		},
		authn:            authn,
		maxSubscriptions: cfg.WebsocketMaxSubscriptions,
		addresses:        &addressSockets{max: cfg.WebsocketPerAddress, open: map[string]int{}},
	}
}

func (t websocketTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	addr := auth.ClientIP(r.Context())
	if !t.addresses.add(addr) {
		respondError(w, http.StatusTooManyRequests, string(jobsphere.RateLimited),
			fmt.Sprintf("Too many open websockets from your address: the limit is %d", t.addresses.max))
		return
	}
	defer t.addresses.remove(addr)

	// Every operation of the socket runs under ctx, so cancelling it ends
	// them all.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s := &socket{
		accept:           t.Implementation,
		authn:            t.authn,
		headerToken:      r.Header.Get("Authorization") != "",
		anonymousUntil:   time.Now().Add(t.InitTimeout),
		maxSubscriptions: t.maxSubscriptions,
		cancel:           cancel,
		operations:       map[string]struct{}{},
	}
	defer s.stopTimer()
	ws := t.Websocket
	ws.Implementation = s
	ws.InitFunc = s.init
	ws.Do(w, r.WithContext(ctx), exec)
}

// socket is one GraphQL websocket as gqlgen's transport sees it: its
// connection, wrapped to enforce what gqlgen does not. It lives no longer
// than the token that authenticated it (or, without one, than the init
// timeout), runs at most maxSubscriptions operations at once, and refuses
// an id already in use, which gqlgen would take over and leave the first
// operation running beyond reach.
type socket struct {
	transport.WebsocketConn
	accept           transport.WebsocketImplementation
	authn            *auth.Service
	headerToken      bool      // the upgrade request had an Authorization header
	anonymousUntil   time.Time // when a socket without a token is closed
	maxSubscriptions int
	cancel           context.CancelFunc

	// Set by init, before any operation.
	deadline    time.Time
	closeCode   int
	closeReason string
	timer       *time.Timer

	mu         sync.Mutex
	operations map[string]struct{} // ids started and not yet completed
}

// Accept upgrades the connection and hands gqlgen the socket around it.
func (s *socket) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := s.accept.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	s.WebsocketConn = conn
	return s, nil
}

// init authenticates the socket from the token in its connection_init
// payload ({"Authorization": "Bearer …"}, or {"authToken": "…"} as some
// Flutter clients send it), else from the upgrade request's Authorization
// header. A bad token refuses the socket with 4403 and the reason; no
// token makes an anonymous one, closed at the init timeout: every
// subscription needs a viewer, so it may only run public operations
// until then.
func (s *socket) init(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	v, err := s.viewer(ctx, payload)
	switch {
	case err != nil:
		// The reason tells the client which (expired or invalid) without
		// internals.
		msg := err.Error()
		var appErr *jobsphere.Error
		if errors.As(err, &appErr) {
			msg = appErr.Message
		}
		ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, closeForbidden), msg)
		return ctx, nil, errors.New(msg)
	case v == nil:
		s.closeAt(s.anonymousUntil, closeUnauthorized, "Authentication required: send an access token in connection_init")
		return ctx, nil, nil
	}
	// The client must reconnect with a fresh token.
	s.closeAt(v.ExpiresAt, closeForbidden, auth.TokenExpiredMessage)
	noteViewer(ctx, *v)
	return auth.WithViewer(ctx, *v), nil, nil
}

// viewer is who the socket's token names, or nil without a token. The
// header's token was verified by authenticate, whose verdict ctx holds.
func (s *socket) viewer(ctx context.Context, payload transport.InitPayload) (*auth.Viewer, error) {
	token := bearerToken(payload.Authorization())
	if token == "" {
		token = payload.GetString("authToken")
	}
	var v auth.Viewer
	var err error
	switch {
	case token != "":
		v, err = s.authn.Authenticate(token)
	case s.headerToken:
		v, err = auth.ViewerFrom(ctx)
	default:
		return nil, nil
	}
	return &v, err
}

// closeAt has the socket closed at deadline with code and reason.
func (s *socket) closeAt(deadline time.Time, code int, reason string) {
	s.deadline, s.closeCode, s.closeReason = deadline, code, reason
	s.timer = time.AfterFunc(time.Until(deadline), s.expire)
}

// expire closes the socket for the reason closeAt gave. The close frame
// goes first: gqlgen closes the socket too once its context ends, with a
// frame of its own that would otherwise win.
func (s *socket) expire() {
	_ = s.WriteClose(s.closeCode, s.closeReason)
	s.cancel()
}

func (s *socket) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

// NextReader hands gqlgen the client's next message, minding the
// operations it starts. Nothing is read past the socket's deadline, even
// if its timer is late.
func (s *socket) NextReader() (int, io.Reader, error) {
	for {
		kind, r, err := s.WebsocketConn.NextReader()
		if err != nil {
			return kind, r, err
		}
		if !s.deadline.IsZero() && !time.Now().Before(s.deadline) {
			s.expire()
			return kind, nil, transport.ErrWebsocketClosed
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return kind, nil, fmt.Errorf("read websocket message: %w", err)
		}
		var msg wsEnvelope
		if json.Unmarshal(data, &msg) != nil || (msg.Type != "subscribe" && msg.Type != "start") {
			return kind, bytes.NewReader(data), nil
		}
		s.mu.Lock()
		_, inUse := s.operations[msg.ID]
		full := len(s.operations) >= s.maxSubscriptions
		if !inUse && !full {
			s.operations[msg.ID] = struct{}{}
		}
		s.mu.Unlock()
		switch {
		case inUse:
			id := msg.ID
			if room := maxCloseReason - len("Subscriber for  already exists"); len(id) > room {
				id = strings.ToValidUTF8(id[:room], "")
			}
			_ = s.WriteClose(closeDuplicateID, "Subscriber for "+id+" already exists")
			s.cancel()
			return kind, nil, transport.ErrWebsocketClosed
		case full:
			refusal := graphQLError{Message: fmt.Sprintf("Too many subscriptions on this connection: the limit is %d", s.maxSubscriptions)}
			refusal.Extensions.Code = subscriptionLimitExceeded
			if err := s.WebsocketConn.WriteJSON(wsError{ID: msg.ID, Type: "error", Payload: []graphQLError{refusal}}); err != nil {
				return kind, nil, fmt.Errorf("refuse subscription: %w", err)
			}
		default:
			return kind, bytes.NewReader(data), nil
		}
	}
}

// WriteJSON sends gqlgen's message; "complete" or "error" ends its
// operation, whose id may then be used again. (gqlgen forgets the id just
// after writing: an operation restarted under it in that instant cannot
// be stopped by the client, but it still counts against the cap.)
func (s *socket) WriteJSON(v any) error {
	if msg, err := envelopeOf(v); err != nil {
		return err
	} else if msg.Type == "complete" || msg.Type == "error" {
		s.mu.Lock()
		delete(s.operations, msg.ID)
		s.mu.Unlock()
	}
	return s.WebsocketConn.WriteJSON(v)
}

// envelopeOf reads a message's id and type. gqlgen's messages of both
// protocols are structs with ID and Type fields, read as they are: every
// result pushed to a subscriber passes here, and encoding it once more
// just to look at two fields would cost a copy of every payload. Any other
// message is encoded to find them.
func envelopeOf(v any) (wsEnvelope, error) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() == reflect.Struct {
		id, typ := rv.FieldByName("ID"), rv.FieldByName("Type")
		if id.Kind() == reflect.String && typ.Kind() == reflect.String {
			return wsEnvelope{ID: id.String(), Type: typ.String()}, nil
		}
	}
	data, err := json.Marshal(v)
	if err != nil {
		return wsEnvelope{}, fmt.Errorf("encode websocket message: %w", err)
	}
	var msg wsEnvelope
	_ = json.Unmarshal(data, &msg) // not an envelope: nothing to track
	return msg, nil
}

// SetReadLimit and SetReadDeadline pass on what gqlgen asks of the
// connection (message size limit, pong timeout) when it can.
func (s *socket) SetReadLimit(limit int64) {
	if l, ok := s.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (s *socket) SetReadDeadline(t time.Time) error {
	if d, ok := s.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// wsEnvelope is what both protocols' messages have in common.
type wsEnvelope struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// wsError is an "error" message of either protocol.
type wsError struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Payload []graphQLError `json:"payload"`
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

// trackWebsockets counts open websocket connections so shutdown can wait
// for them, and shows how many are open in the metrics.
func trackWebsockets(wg *sync.WaitGroup, open prometheus.Gauge) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if websocketUpgrade(r) {
				wg.Add(1)
				open.Inc()
				defer func() { open.Dec(); wg.Done() }()
			}
			next.ServeHTTP(w, r)
		})
	}
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
