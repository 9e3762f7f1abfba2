package server

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/graph/scalar"
	"github.com/jobsphere/jobsphere/media"
)

// recoverPanics turns a panic into a logged error and a generic 500, so
// one bad request neither kills the connection silently nor leaks the
// panic's details to the client.
func recoverPanics(logger *slog.Logger) func(http.Handler) http.Handler {
	logger = WithRequestContext(logger)
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

// withClientIP records the client's address for the per-address limits
// of sign-up and sign-in.
func withClientIP(trustedProxyHops int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(auth.WithClientIP(r.Context(), auth.RequestIP(r, trustedProxyHops))))
		})
	}
}

// refuseControlCharactersInPath answers 400 to a path holding a control
// character or invalid UTF-8 (%00 …): path values reach the database
// (the sandbox's account ids) and PostgreSQL refuses NUL in text. Strings
// in GraphQL documents and variables are checked by their scalars.
func refuseControlCharactersInPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := scalar.CheckText(r.URL.Path, true); err != nil {
			respondError(w, http.StatusBadRequest, string(jobsphere.BadUserInput), "The path must not contain control characters")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withCurrency lets the Decimal scalar format and parse amounts in the
// deployment's currency.
func withCurrency(c jobsphere.Currency) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(jobsphere.WithCurrency(r.Context(), c)))
		})
	}
}

// bearerToken strips the "Bearer " scheme, in any case.
func bearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return ""
}

// authenticate puts the viewer of the request's bearer token in its
// context. A bad token is remembered rather than refused here, so public
// operations (login, register) still work and protected ones can say why.
func authenticate(authn *auth.Service) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			header := r.Header.Get("Authorization")
			if header == "" {
				next.ServeHTTP(w, r)
				return
			}
			ctx := r.Context()
			if v, err := authn.Authenticate(bearerToken(header)); err != nil {
				ctx = auth.WithCredentialError(ctx, err)
			} else {
				ctx = auth.WithViewer(ctx, v)
				noteViewer(ctx, v)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
