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

// limitBody refuses request bodies over maxBytes with a clear 413 before
// any handler spends memory parsing them. Multipart requests carry file
// uploads, so they get maxUploadBytes and are streamed rather than held in
// memory. Other bodies are read here in full, which is what turns an
// oversized chunked body (no Content-Length) into a 413 too instead of a
// parse error deep in a handler.
func limitBody(maxBytes, maxUploadBytes int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Nothing reads a GET body here, so it is not worth buffering;
			// net/http discards whatever is left unread.
			if r.Method == http.MethodGet || (r.ContentLength == 0 && len(r.TransferEncoding) == 0) {
				next.ServeHTTP(w, r)
				return
			}
			mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			multipart := mediaType == "multipart/form-data"
			limit := maxBytes
			if multipart {
				limit = maxUploadBytes
			}
			if r.ContentLength > limit {
				respondTooLarge(w, limit)
				return
			}
			// Handlers must not modify the request they are given, so the
			// new body goes on a shallow copy.
			limited := *r
			if multipart {
				// Streamed uploads (no Content-Length) find out they are too
				// large only while the handler reads them; whatever it then
				// answers, the client gets the 413 a Content-Length gets.
				body := &maxBytesBody{ReadCloser: http.MaxBytesReader(w, r.Body, maxUploadBytes)}
				limited.Body = body
				next.ServeHTTP(&tooLargeWriter{ResponseWriter: w, body: body, limit: maxUploadBytes}, media.GuardFileNames(&limited))
				return
			}
			// MaxBytesReader reads at most one byte past the limit, which is
			// how it tells "exactly the limit" from "too much".
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				respondTooLarge(w, maxBytes)
				return
			case err != nil:
				respondError(w, http.StatusBadRequest, "BAD_REQUEST", "Could not read the request body")
				return
			}
			limited.Body = io.NopCloser(bytes.NewReader(body))
			limited.ContentLength = int64(len(body))
			limited.TransferEncoding = nil // the body is no longer chunked
			next.ServeHTTP(w, &limited)
		})
	}
}

// maxBytesBody remembers that the body went over its limit.
type maxBytesBody struct {
	io.ReadCloser
	exceeded atomic.Bool
}

func (b *maxBytesBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		b.exceeded.Store(true)
	}
	return n, err
}

// tooLargeWriter answers 413 in place of the handler's answer when the
// request body went over its limit before the answer began.
type tooLargeWriter struct {
	http.ResponseWriter
	body            *maxBytesBody
	limit           int64
	wrote, replaced bool
}

func (w *tooLargeWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if w.body.exceeded.Load() && status != http.StatusRequestEntityTooLarge {
		w.replaced = true
		respondTooLarge(w.ResponseWriter, w.limit)
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *tooLargeWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *tooLargeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
	}
	reg.MustRegister(m.requests, m.duration, m.websockets, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
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
