package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"

	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/media"
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
// where the App's logger finds it for every line logged with it.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !validRequestID.MatchString(id) {
			id = ulid.Make().String()
		}
		w.Header().Set(requestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(withRequestInfo(r.Context(), id)))
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
// from the context (see contextHandler).
func accessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	logger = withRequestContext(logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)

			status := sw.status
			if status == 0 {
				status = http.StatusOK // the handler wrote nothing; net/http sends 200
			}
			level := slog.LevelInfo
			if status >= http.StatusInternalServerError {
				level = slog.LevelError
			}
			logger.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(time.Since(start))/float64(time.Millisecond)),
				slog.String("remote", r.RemoteAddr),
			)
		})
	}
}

// recoverPanics turns a panic into a logged error and a generic 500, so
// one bad request neither kills the connection silently nor leaks the
// panic's details to the client.
func recoverPanics(logger *slog.Logger) func(http.Handler) http.Handler {
	logger = withRequestContext(logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				// ErrAbortHandler is net/http's way to drop the connection
				// on purpose; it must reach the server to do so.
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.LogAttrs(r.Context(), slog.LevelError, "panic",
					slog.Any("panic", v),
					slog.String("stack", string(debug.Stack())),
				)
				// Once the response has started, a second status would only
				// corrupt it; the client sees a truncated response instead.
				if sw.status == 0 {
					respondError(sw, http.StatusInternalServerError, "INTERNAL", "Internal server error")
				}
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// bodyLimits are what a request body may be: how big, and how long it may
// take to arrive.
type bodyLimits struct {
	maxBytes, maxUploadBytes int64
	// readTimeout is for a whole body; uploads get readTimeout plus their
	// size at uploadMinRate bytes a second.
	readTimeout   time.Duration
	uploadMinRate int64
	slowBodies    prometheus.Counter // bodies cut off at their deadline
}

func newBodyLimits(cfg *config.Config, slowBodies prometheus.Counter) bodyLimits {
	return bodyLimits{
		maxBytes: cfg.MaxBodyBytes, maxUploadBytes: cfg.MaxUploadBytes,
		readTimeout: cfg.BodyReadTimeout, uploadMinRate: cfg.UploadMinRate, slowBodies: slowBodies,
	}
}

// readTimeoutFor is how long the body of r may take: a multipart body of n
// bytes (its Content-Length, else the upload limit) gets n / uploadMinRate
// seconds more.
func (l bodyLimits) readTimeoutFor(r *http.Request) time.Duration {
	if !isMultipart(r) {
		return l.readTimeout
	}
	size := r.ContentLength
	if size < 0 {
		size = l.maxUploadBytes
	}
	return l.readTimeout + time.Duration(float64(size)/float64(l.uploadMinRate)*float64(time.Second))
}

// hasBody reports whether r comes with a body. Websocket upgrades never
// do: their connection lives on, and must never get a body's deadline.
func hasBody(r *http.Request) bool {
	return (r.ContentLength != 0 || len(r.TransferEncoding) > 0) && !strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// isMultipart reports whether r's body is a multipart form: file uploads.
func isMultipart(r *http.Request) bool {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mediaType == "multipart/form-data"
}

// bodyDeadline sets the read deadline of a request's body (see
// bodyLimits), which limitBody enforces. It runs before the CORS handler,
// so that a preflight answered without reading its body has one too:
// net/http reads what is left of an unread body after the handler.
func bodyDeadline(l bodyLimits) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hasBody(r) {
				// Every writer of ours can; one that cannot leaves the body
				// without a deadline, as net/http alone would.
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(l.readTimeoutFor(r)))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// limitBody refuses request bodies over maxBytes with a clear 413 before
// any handler spends memory parsing them, and cuts off bodies that do not
// arrive in time (408), which net/http's ReadHeaderTimeout does not: a
// client sending one byte every few seconds would otherwise hold its
// connection and goroutine for ever. Multipart requests carry file
// uploads, so they get maxUploadBytes, a longer deadline, and are streamed
// rather than held in memory. Other bodies are read here in full, which is
// what turns an oversized chunked body (no Content-Length) into a 413 too
// instead of a parse error deep in a handler.
func limitBody(l bodyLimits) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hasBody(r) {
				next.ServeHTTP(w, r)
				return
			}
			multipart := isMultipart(r)
			limit := l.maxBytes
			if multipart {
				limit = l.maxUploadBytes
			}
			if r.ContentLength > limit {
				respondTooLarge(w, limit)
				return
			}
			timeout := l.readTimeoutFor(r)
			body := &watchedBody{
				ReadCloser: http.MaxBytesReader(w, r.Body, limit),
				rc:         http.NewResponseController(w), slowBodies: l.slowBodies,
			}
			// Handlers must not modify the request they are given, so the
			// new body goes on a shallow copy.
			limited := *r
			limited.Body = body
			if r.Method == http.MethodGet {
				next.ServeHTTP(w, &limited) // nothing reads a GET body here: not worth buffering
				return
			}
			if multipart {
				// Streamed uploads find out they are too large or too slow only
				// while the handler reads them; whatever it then answers, the
				// client gets the 413 or 408 a body read here gets.
				next.ServeHTTP(&bodyErrorWriter{ResponseWriter: w, body: body, limits: l, timeout: timeout}, media.GuardFileNames(&limited))
				return
			}
			// MaxBytesReader reads at most one byte past the limit, which is
			// how it tells "exactly the limit" from "too much".
			raw, err := io.ReadAll(body)
			switch {
			case body.exceeded.Load():
				respondTooLarge(w, l.maxBytes)
				return
			case body.timedOut.Load():
				respondTooSlow(w, timeout)
				return
			case err != nil:
				respondError(w, http.StatusBadRequest, "BAD_REQUEST", "Could not read the request body")
				return
			}
			limited.Body = io.NopCloser(bytes.NewReader(raw))
			limited.ContentLength = int64(len(raw))
			limited.TransferEncoding = nil // the body is no longer chunked
			next.ServeHTTP(w, &limited)
		})
	}
}

// watchedBody is a request body under its size limit and read deadline
// (set by bodyDeadline). It remembers which of the two it broke, counts a
// body cut off at its deadline, and lifts the deadline once the body is
// read: from then on net/http watches the connection for the client going
// away, and the deadline would cancel a long-running handler's context.
type watchedBody struct {
	io.ReadCloser
	rc                 *http.ResponseController
	slowBodies         prometheus.Counter
	exceeded, timedOut atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{}) // as settable as it was in bodyDeadline
	case errors.As(err, &tooLarge):
		b.exceeded.Store(true)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if b.timedOut.CompareAndSwap(false, true) {
			b.slowBodies.Inc()
		}
	}
	return n, err
}

// bodyErrorWriter answers 413 or 408 in place of the handler's answer
// when the request body went over its limit or past its deadline before
// the answer began.
type bodyErrorWriter struct {
	http.ResponseWriter
	body            *watchedBody
	limits          bodyLimits
	timeout         time.Duration
	wrote, replaced bool
}

func (w *bodyErrorWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	switch {
	case w.body.exceeded.Load() && status != http.StatusRequestEntityTooLarge:
		w.replaced = true
		respondTooLarge(w.ResponseWriter, w.limits.maxUploadBytes)
	case w.body.timedOut.Load() && status != http.StatusRequestTimeout:
		w.replaced = true
		respondTooSlow(w.ResponseWriter, w.timeout)
	default:
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *bodyErrorWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *bodyErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// respondTooSlow answers a body cut off at its deadline. The rest of it
// may still be on its way, so the connection cannot serve another request.
func respondTooSlow(w http.ResponseWriter, timeout time.Duration) {
	w.Header().Set("Connection", "close")
	respondError(w, http.StatusRequestTimeout, "REQUEST_TIMEOUT",
		"The request body did not arrive in time: the limit is "+timeout.Round(time.Second).String())
}

func respondTooLarge(w http.ResponseWriter, limit int64) {
	respondError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE",
		"Request body too large: the limit is "+strconv.FormatInt(limit, 10)+" bytes")
}

// corsMiddleware lets the listed browser origins call the API. Clients
// authenticate with bearer tokens, not cookies, so credentials stay off;
// that also keeps "*" safe to allow.
func corsMiddleware(origins []string) func(http.Handler) http.Handler {
	opts := cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders: []string{
			"Authorization", "Content-Type", requestIDHeader,
			// Apollo Client sends these; the first defeats CSRF on uploads.
			"Apollo-Require-Preflight", "apollographql-client-name", "apollographql-client-version",
		},
		ExposedHeaders:   []string{requestIDHeader},
		MaxAge:           600,
		AllowCredentials: false,
	}
	// rs/cors treats an empty list as "allow all"; here it means none.
	if len(origins) == 0 {
		opts.AllowOriginFunc = func(string) bool { return false }
	}
	return cors.New(opts).Handler
}

// originAllowed decides whether a websocket upgrade may come from origin.
// Browsers always send Origin, so a missing one is a native client
// (Flutter, mobile), which cross-site hijacking cannot involve.
func originAllowed(origins []string, origin string) bool {
	if origin == "" {
		return true
	}
	origin = strings.TrimSuffix(origin, "/")
	for _, o := range origins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// metrics holds the HTTP metrics, labelled by route pattern rather than
// raw path so that clients cannot blow up their cardinality.
type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	websockets prometheus.Gauge
	slowBodies prometheus.Counter
}

// newMetrics creates the HTTP and realtime metrics and registers them
// with reg; subscriptions counts the live GraphQL subscriptions.
func newMetrics(reg prometheus.Registerer, subscriptions func() int) *metrics {
	m := &metrics{
		requests: newCounter("jobsphere_http_requests_total",
			"HTTP requests handled, by route, method and status code.", "route", "method", "code"),
		duration: newHistogram("jobsphere_http_request_duration_seconds",
			"Time to handle an HTTP request, by route and method.", "route", "method"),
		websockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jobsphere_websocket_connections",
			Help: "Open GraphQL websocket connections.",
		}),
		slowBodies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobsphere_http_slow_bodies_total",
			Help: "Requests whose body did not arrive within its read deadline (BODY_READ_TIMEOUT, longer for uploads): answered 408, connection closed.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.websockets, m.slowBodies, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jobsphere_graphql_subscriptions",
		Help: "Live GraphQL subscriptions on this instance.",
	}, func() float64 { return float64(subscriptions()) }))
	return m
}

// instrument counts and times the requests h handles under route. promhttp
// wraps the writer in a delegator that keeps Hijacker and Flusher when the
// writer has them, so websocket upgrades still work through it.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	l := prometheus.Labels{"route": route}
	counted := promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l), h)
	timed := promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(l), counted)
	// A websocket lives as long as its client: its "duration" would only
	// swamp the request-latency histogram, so upgrades are counted, not timed.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocketUpgrade(r) {
			counted.ServeHTTP(w, r)
			return
		}
		timed.ServeHTTP(w, r)
	})
}

// handleHealthz answers liveness probes: the process is up and serving.
// It checks nothing else, so a database outage does not get it restarted.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		respondJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers readiness probes: 503 while the database does not
// answer, so the load balancer sends traffic elsewhere. The timeout keeps a
// hung database from hanging the probe; the reason goes to the log only.
func handleReadyz(ping func(context.Context) error, logger *slog.Logger) http.Handler {
	logger = withRequestContext(logger)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ping(ctx); err != nil {
			logger.LogAttrs(r.Context(), slog.LevelWarn, "readiness check failed",
				slog.String("error", err.Error()),
			)
			respondJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		respondJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// graphQLErrorBody is the GraphQL response shape, so that clients parse
// errors raised outside the GraphQL handler like any other.
type graphQLErrorBody struct {
	Errors []graphQLError `json:"errors"`
}

type graphQLError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

func respondError(w http.ResponseWriter, status int, code, message string) {
	e := graphQLError{Message: message}
	e.Extensions.Code = code
	respondJSON(w, status, graphQLErrorBody{Errors: []graphQLError{e}})
}

func respondJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is sent; a failed write means the client has gone.
	_ = json.NewEncoder(w).Encode(v)
}
