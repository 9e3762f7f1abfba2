package server

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth"
)

// requestIDHeader carries a request's id in both directions, so a client
// can quote it in a bug report and a proxy can pass its own along.
const requestIDHeader = "X-Request-ID"

// validRequestID bounds what a client may choose as id: it lands in every
// log line of the request, so it must be short and harmless.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID gives every request an id: the caller's X-Request-ID when it
// is well formed, else a fresh ULID (sortable by time, which helps when
// reading logs). The id is echoed in the response and kept in the context,
// where the system's logger finds it for every line logged with it, and
// the audit log for every admin action the request makes.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !validRequestID.MatchString(id) {
			id = ulid.Make().String()
		}
		w.Header().Set(requestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(audit.WithRequestID(withRequestInfo(r.Context(), id), id)))
	})
}

// RequestIDFrom returns the id requestID gave the request of ctx, or ""
// outside a request.
func RequestIDFrom(ctx context.Context) string {
	if info := requestInfoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// statusWriter remembers the status and size of a response for the
// middleware that report on it. Websocket upgrades go through it, so it
// passes Hijack and Flush on to the writer it wraps (other middleware and
// websocket libraries test for those interfaces), and Unwrap lets
// http.ResponseController reach the rest (deadlines, full duplex).
type statusWriter struct {
	http.ResponseWriter
	status int // 0 until the response has started
	bytes  int64
	info   *requestInfo // accessLog's, for the error codes respondError answers; nil in others
}

// noteErrorCode records code, answered outside GraphQL's own errors
// (respondError), for the access log of the request w answers, when w is
// or wraps its statusWriter.
func noteErrorCode(w http.ResponseWriter, code string) {
	for w != nil {
		if sw, ok := w.(*statusWriter); ok && sw.info != nil {
			sw.info.noteCodes([]string{code})
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

func (w *statusWriter) WriteHeader(code int) {
	// 1xx codes other than 101 are informational: the real status follows.
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK // what net/http sends when Write comes first
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends the headers and buffered body. http.Flusher has no way to
// report an error; a writer that cannot flush simply does nothing.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over, as a websocket upgrade does. The
// handler answers on the raw connection, so 101 is the status to report.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// accessLog writes one line per request once it is done. It logs the path
// but never the query string, which may hold tokens or personal data. The
// request id, and the viewer's id once authentication has named them, come
// from the context (see contextHandler). A GraphQL request's line names
// its operation and the extensions.code values it answered (a failed
// operation is still HTTP 200); a websocket's operations each get a line
// of their own as they answer ("graphql operation"), and its access line
// comes when it closes.
func accessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	logger = WithRequestContext(logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			info := requestInfoFrom(r.Context())
			if info == nil { // served without requestID, as some tests do
				info = &requestInfo{}
			}
			if websocketUpgrade(r) {
				info.operationLogger = logger
			}
			sw := &statusWriter{ResponseWriter: w, info: info}
			next.ServeHTTP(sw, r)

			status := sw.status
			if status == 0 {
				status = http.StatusOK // the handler wrote nothing; net/http sends 200
			}
			level := slog.LevelInfo
			if status >= http.StatusInternalServerError {
				level = slog.LevelError
			}
			// Values only: the line of a websocket waits for its close, and
			// must not keep the request and its buffers alive until then.
			ctx, method, path, remote, size := r.Context(), r.Method, r.URL.Path, r.RemoteAddr, sw.bytes
			info.afterRequest(func() {
				logger.LogAttrs(ctx, level, "http request",
					slog.String("method", method),
					slog.String("path", path),
					slog.Int("status", status),
					slog.Int64("bytes", size),
					slog.Float64("duration_ms", float64(time.Since(start))/float64(time.Millisecond)),
					slog.String("remote", remote),
					info.operationAttrs(),
				)
			})
		})
	}
}

// contextHandler adds the request's identity to every record logged with
// a request's context: request_id, viewer_id (the user id, never an email)
// once the viewer is known, and trace_id/span_id when the request is
// traced. Installed once on the system's logger (by app.Open), it reaches
// every service's InfoContext(ctx, …) without any of them passing ids
// around.
type contextHandler struct{ inner slog.Handler }

// WithRequestContext returns logger with contextHandler in front of its
// handler, unless it already has it.
func WithRequestContext(logger *slog.Logger) *slog.Logger {
	if _, ok := logger.Handler().(contextHandler); ok {
		return logger
	}
	return slog.New(contextHandler{logger.Handler()})
}

func (h contextHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.inner.Handle(ctx, r)
	}
	var attrs []slog.Attr
	if info := requestInfoFrom(ctx); info != nil {
		attrs = append(attrs, slog.String("request_id", info.id))
	}
	if id := viewerID(ctx); id != "" {
		attrs = append(attrs, slog.String("viewer_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	if len(attrs) > 0 {
		// The record is the caller's: adding to it in place is not allowed.
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs and WithGroup keep the handler in front. Attributes a logger
// adds under a group land in that group; nothing here uses groups.
func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.inner.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.inner.WithGroup(name)}
}

// requestInfo is what the request's log lines say about it. requestID
// puts it in the request's context first; the viewer is filled in later,
// once a bearer token or a websocket's connection_init has named them, so
// that the access log written on the way out has it too.
type requestInfo struct {
	id     string
	viewer atomic.Pointer[string]
	// operationLogger logs a websocket's operations, one line each; nil
	// for other requests, whose one operation is kept for their access
	// line.
	operationLogger *slog.Logger

	mu        sync.Mutex
	operation graphqlOperation // its codes: every distinct one the request answered, in order
	// A websocket outlives its handler (see detachRequest): what the
	// middleware does at the end of the request waits, in afterClose, for
	// the socket to close.
	detached   bool
	afterClose []func()
}

// detachRequest tells the middleware around ctx's request that its
// connection stays open after the handler returns (a websocket served on
// a goroutine of its own). The function returned, called once the
// connection has closed, runs what they left for the request's end.
func detachRequest(ctx context.Context) (closed func()) {
	info := requestInfoFrom(ctx)
	if info == nil {
		return func() {}
	}
	info.mu.Lock()
	info.detached = true
	info.mu.Unlock()
	return func() {
		info.mu.Lock()
		fns := info.afterClose
		info.detached, info.afterClose = false, nil
		info.mu.Unlock()
		for _, fn := range fns {
			fn()
		}
	}
}

// afterRequest runs fn at the end of the request: now, or once its
// detached connection has closed.
func (info *requestInfo) afterRequest(fn func()) {
	info.mu.Lock()
	if info.detached {
		info.afterClose = append(info.afterClose, fn)
		info.mu.Unlock()
		return
	}
	info.mu.Unlock()
	fn()
}

// graphqlOperation is what the access log says of an operation.
type graphqlOperation struct {
	typ, name string        // as the metrics label them, but unbounded: "mutation", "CreateJob"
	codes     []string      // the distinct extensions.code values of its first response
	duration  time.Duration // to its first response; 0 for subscriptions
}

// attrs are the operation's log attributes: only those it has.
func (op graphqlOperation) attrs() []any {
	var attrs []any
	if op.typ != "" {
		attrs = append(attrs, slog.String("operation", op.name), slog.String("operation_type", op.typ))
	}
	if len(op.codes) > 0 {
		attrs = append(attrs, slog.String("error_codes", strings.Join(op.codes, ",")))
	}
	if op.duration > 0 {
		attrs = append(attrs, slog.Float64("duration_ms", float64(op.duration)/float64(time.Millisecond)))
	}
	return attrs
}

// noteOperation records an operation for its request's access log, or
// logs it at once when the request is a websocket.
func noteOperation(ctx context.Context, op graphqlOperation) {
	info := requestInfoFrom(ctx)
	switch {
	case info == nil:
	case info.operationLogger != nil:
		info.operationLogger.InfoContext(ctx, "graphql operation", op.attrs()...)
	default:
		info.mu.Lock()
		info.operation.typ, info.operation.name = op.typ, op.name
		info.mu.Unlock()
		info.noteCodes(op.codes)
	}
}

func (info *requestInfo) noteCodes(codes []string) {
	info.mu.Lock()
	defer info.mu.Unlock()
	for _, c := range codes {
		if !slices.Contains(info.operation.codes, c) {
			info.operation.codes = append(info.operation.codes, c)
		}
	}
}

// operationAttrs are the access line's operation and error codes, in a
// group without a name (no attributes when there are none). The line has
// its own duration.
func (info *requestInfo) operationAttrs() slog.Attr {
	info.mu.Lock()
	defer info.mu.Unlock()
	return slog.Group("", info.operation.attrs()...)
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, &requestInfo{id: id})
}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// noteViewer records the signed-in viewer for the request's log lines.
func noteViewer(ctx context.Context, v auth.Viewer) {
	if info := requestInfoFrom(ctx); info != nil {
		id := string(v.UserID)
		info.viewer.Store(&id)
	}
}

// viewerID is the id of ctx's viewer: the one in ctx itself, else the one
// noted for its request.
func viewerID(ctx context.Context) string {
	if v, err := auth.ViewerFrom(ctx); err == nil {
		return string(v.UserID)
	}
	if info := requestInfoFrom(ctx); info != nil {
		if id := info.viewer.Load(); id != nil {
			return *id
		}
	}
	return ""
}
