package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/coder/websocket"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newTestLogger logs JSON into a buffer the test can inspect.
func newTestLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// decodeLogLines parses every JSON line the test logger wrote.
func decodeLogLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	dec := json.NewDecoder(buf)
	for dec.More() {
		var line map[string]any
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("log is not JSON lines: %v", err)
		}
		lines = append(lines, line)
	}
	return lines
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"well-formed id is kept", "req-1.A_b", true},
		{"64 characters are kept", strings.Repeat("a", 64), true},
		{"missing id is generated", "", false},
		{"65 characters are replaced", strings.Repeat("a", 65), false},
		{"spaces are replaced", "two words", false},
		{"markup is replaced", "<script>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			h := requestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestIDFrom(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.incoming != "" {
				req.Header.Set("X-Request-ID", tt.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			got := rec.Header().Get("X-Request-ID")
			if got != seen {
				t.Errorf("response id %q, context id %q: want the same", got, seen)
			}
			if tt.keep {
				if got != tt.incoming {
					t.Errorf("id = %q, want the incoming %q", got, tt.incoming)
				}
				return
			}
			if _, err := ulid.ParseStrict(got); err != nil {
				t.Errorf("id = %q, want a new ULID: %v", got, err)
			}
		})
	}
	if id := RequestIDFrom(context.Background()); id != "" {
		t.Errorf("RequestIDFrom outside a request = %q, want empty", id)
	}
}

func TestAccessLog(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		wantCode  float64
		wantBytes float64
		wantLevel string
	}{
		{
			name: "status and size",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusTeapot)
				_, _ = io.WriteString(w, "hello")
			},
			wantCode: 418, wantBytes: 5, wantLevel: "INFO",
		},
		{
			name:     "nothing written means 200",
			handler:  func(w http.ResponseWriter, r *http.Request) {},
			wantCode: 200, wantBytes: 0, wantLevel: "INFO",
		},
		{
			name: "server error logs at error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "boom", http.StatusBadGateway)
			},
			wantCode: 502, wantBytes: 5, wantLevel: "ERROR",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, buf := newTestLogger()
			h := requestID(accessLog(logger)(tt.handler))
			req := httptest.NewRequest(http.MethodPost, "/graphql?token=s3cret&q=1", nil)
			req.Header.Set("X-Request-ID", "abc")
			h.ServeHTTP(httptest.NewRecorder(), req)

			if strings.Contains(buf.String(), "s3cret") {
				t.Fatalf("log holds the query string: %s", buf)
			}
			lines := decodeLogLines(t, buf)
			if len(lines) != 1 {
				t.Fatalf("got %d log lines, want 1", len(lines))
			}
			line := lines[0]
			want := map[string]any{
				"msg": "http request", "level": tt.wantLevel, "method": "POST", "path": "/graphql",
				"status": tt.wantCode, "bytes": tt.wantBytes, "request_id": "abc", "remote": req.RemoteAddr,
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %v, want %v", k, line[k], v)
				}
			}
			if _, ok := line["duration_ms"].(float64); !ok {
				t.Errorf("duration_ms = %v, want a number", line["duration_ms"])
			}
		})
	}
}

func TestAccessLogPassesFlushThrough(t *testing.T) {
	logger, buf := newTestLogger()
	h := accessLog(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Fatal("the access log's writer is not an http.Flusher")
		}
		f.Flush()
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !rec.Flushed {
		t.Error("Flush did not reach the underlying writer")
	}
	if lines := decodeLogLines(t, buf); len(lines) != 1 || lines[0]["status"] != float64(200) {
		t.Errorf("log = %v, want one line with status 200", lines)
	}
}

func TestRecoverPanics(t *testing.T) {
	const internal = `{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL"}}]}`
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantStatus int
		wantBody   string
	}{
		{
			name:       "panic before the response",
			handler:    func(w http.ResponseWriter, r *http.Request) { panic("secret detail") },
			wantStatus: http.StatusInternalServerError,
			wantBody:   internal,
		},
		{
			name: "panic after the response started",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusAccepted)
				_, _ = io.WriteString(w, "partial")
				panic(errors.New("secret detail"))
			},
			wantStatus: http.StatusAccepted,
			wantBody:   "partial",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, buf := newTestLogger()
			h := requestID(recoverPanics(logger)(tt.handler))
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			req.Header.Set("X-Request-ID", "abc")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if tt.wantStatus == http.StatusInternalServerError {
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
			}
			lines := decodeLogLines(t, buf)
			if len(lines) != 1 {
				t.Fatalf("got %d log lines, want 1", len(lines))
			}
			line := lines[0]
			if line["msg"] != "panic" || line["level"] != "ERROR" || line["panic"] != "secret detail" || line["request_id"] != "abc" {
				t.Errorf("log line = %v", line)
			}
			if stack, _ := line["stack"].(string); !strings.Contains(stack, "runtime/debug.Stack") {
				t.Errorf("log line has no stack: %v", line)
			}
		})
	}
}

func TestRecoverPanicsRepanicsErrAbortHandler(t *testing.T) {
	logger, buf := newTestLogger()
	h := recoverPanics(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	rec := httptest.NewRecorder()
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", v)
		}
		if buf.Len() != 0 || rec.Body.Len() != 0 {
			t.Errorf("an aborted request was logged (%q) or answered (%q)", buf, rec.Body)
		}
	}()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
}

// testBodyLimits are size limits with a deadline no test meets.
func testBodyLimits(maxBytes, maxUploadBytes int64) bodyLimits {
	return bodyLimits{
		maxBytes: maxBytes, maxUploadBytes: maxUploadBytes, readTimeout: time.Minute, uploadMinRate: 1 << 20,
		slowBodies: prometheus.NewCounter(prometheus.CounterOpts{Name: "slow_bodies_total"}),
	}
}

func TestLimitBody(t *testing.T) {
	const maxBytes, maxUploadBytes = 16, 512
	const tooLarge = `{"errors":[{"message":"Request body too large: the limit is 16 bytes","extensions":{"code":"PAYLOAD_TOO_LARGE"}}]}`
	const uploadTooLarge = `{"errors":[{"message":"Request body too large: the limit is 512 bytes","extensions":{"code":"PAYLOAD_TOO_LARGE"}}]}`

	// The handler echoes what it got, so the test sees the body and
	// Content-Length after limitBody.
	srv := httptest.NewServer(limitBody(testBodyLimits(maxBytes, maxUploadBytes))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "handler read: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
		w.Header().Set("X-Seen-Length", strconv.FormatInt(r.ContentLength, 10))
		_, _ = w.Write(body)
	})))
	defer srv.Close()

	multipartBody := func(size int) (string, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("f", strings.Repeat("x", size))
		_ = mw.Close()
		return b.String(), mw.FormDataContentType()
	}
	smallUpload, smallUploadType := multipartBody(20) // over maxBytes, under maxUploadBytes
	bigUpload, bigUploadType := multipartBody(1000)

	tests := []struct {
		name        string
		method      string
		body        string
		contentType string
		chunked     bool // no Content-Length, as a streaming client sends
		wantStatus  int
		wantBody    string // "" means the request body, echoed intact
		wantLength  string // ContentLength the handler saw
	}{
		{name: "GET passes", method: http.MethodGet, wantStatus: 200, wantLength: "0"},
		{name: "empty POST passes", method: http.MethodPost, wantStatus: 200, wantLength: "0"},
		{name: "under the limit", method: http.MethodPost, body: `{"query":"{me}"}`, wantStatus: 200, wantLength: "16"},
		{name: "chunked under the limit", method: http.MethodPost, body: `{"query":"{a}"}`, chunked: true, wantStatus: 200, wantLength: "15"},
		{name: "Content-Length over the limit", method: http.MethodPost, body: strings.Repeat("x", 17), wantStatus: 413, wantBody: tooLarge},
		{name: "chunked over the limit", method: http.MethodPost, body: strings.Repeat("x", 17), chunked: true, wantStatus: 413, wantBody: tooLarge},
		{name: "multipart over maxBytes passes", method: http.MethodPost, body: smallUpload, contentType: smallUploadType, wantStatus: 200, wantLength: strconv.Itoa(len(smallUpload))},
		{name: "multipart over the upload limit", method: http.MethodPost, body: bigUpload, contentType: bigUploadType, wantStatus: 413, wantBody: uploadTooLarge},
		{name: "chunked multipart over the upload limit gets 413 whatever the handler answers", method: http.MethodPost, body: bigUpload, contentType: bigUploadType, chunked: true, wantStatus: 413, wantBody: uploadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, srv.URL+"/graphql", body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.chunked {
				req.ContentLength = -1
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			got, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}

			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", res.StatusCode, tt.wantStatus, got)
			}
			if tt.wantBody == "" {
				if string(got) != tt.body {
					t.Errorf("body = %q, want it intact: %q", got, tt.body)
				}
			} else if strings.TrimSpace(string(got)) != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if tt.wantStatus == 413 && res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", res.Header.Get("Content-Type"))
			}
			if tt.wantLength != "" && res.Header.Get("X-Seen-Length") != tt.wantLength {
				t.Errorf("handler saw ContentLength %s, want %s", res.Header.Get("X-Seen-Length"), tt.wantLength)
			}
		})
	}
}

func TestLimitBodyReadError(t *testing.T) {
	h := limitBody(testBodyLimits(16, 64))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the handler ran despite the read error")
	}))
	req := httptest.NewRequest(http.MethodPost, "/graphql", iotest.ErrReader(errors.New("connection reset")))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	const want = `{"errors":[{"message":"Could not read the request body","extensions":{"code":"BAD_REQUEST"}}]}`
	if rec.Code != http.StatusBadRequest || strings.TrimSpace(rec.Body.String()) != want {
		t.Errorf("got %d %q, want 400 %q", rec.Code, rec.Body, want)
	}
}

func TestCORS(t *testing.T) {
	const site = "https://app.example.com"
	tests := []struct {
		name      string
		origins   []string
		origin    string
		wantAllow string // Access-Control-Allow-Origin; "" means refused
	}{
		{"listed origin", []string{"https://other.example.com", site}, site, site},
		{"unlisted origin", []string{"https://other.example.com"}, site, ""},
		{"any origin", []string{"*"}, site, "*"},
		{"empty list allows none", nil, site, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := corsMiddleware(tt.origins)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-ID", "abc")
			}))

			preflight := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
			preflight.Header.Set("Origin", tt.origin)
			preflight.Header.Set("Access-Control-Request-Method", http.MethodPost)
			// Sorted and lower-case, as browsers send it.
			preflight.Header.Set("Access-Control-Request-Headers", "apollo-require-preflight,authorization,content-type,x-request-id")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, preflight)

			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
				t.Errorf("preflight Allow-Origin = %q, want %q", got, tt.wantAllow)
			}
			if tt.wantAllow != "" {
				if got := rec.Header().Get("Access-Control-Max-Age"); got != "600" {
					t.Errorf("Max-Age = %q, want 600", got)
				}
				if got := rec.Header().Get("Access-Control-Allow-Credentials"); got != "" {
					t.Errorf("Allow-Credentials = %q, want none", got)
				}
				if got := rec.Header().Get("Access-Control-Allow-Headers"); !strings.Contains(got, "authorization") {
					t.Errorf("Allow-Headers = %q, want authorization allowed", got)
				}
			}

			actual := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			actual.Header.Set("Origin", tt.origin)
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, actual)
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.wantAllow)
			}
			if exposed := rec.Header().Get("Access-Control-Expose-Headers"); tt.wantAllow != "" && !strings.EqualFold(exposed, "X-Request-ID") {
				t.Errorf("Expose-Headers = %q, want X-Request-ID", exposed)
			}
		})
	}
}

func TestOriginAllowed(t *testing.T) {
	listed := []string{"https://app.example.com", "http://localhost:3000/"}
	tests := []struct {
		name    string
		origins []string
		origin  string
		want    bool
	}{
		{"no origin (native client)", nil, "", true},
		{"no origin with a list", listed, "", true},
		{"wildcard", []string{"*"}, "https://evil.example", true},
		{"listed", listed, "https://app.example.com", true},
		{"listed, other case", listed, "HTTPS://App.Example.com", true},
		{"listed, trailing slash on the origin", listed, "https://app.example.com/", true},
		{"listed with a trailing slash", listed, "http://localhost:3000", true},
		{"unlisted", listed, "https://evil.example", false},
		{"prefix is not a match", listed, "https://app.example.com.evil.example", false},
		{"other scheme", listed, "http://app.example.com", false},
		{"empty list", nil, "https://app.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := originAllowed(tt.origins, tt.origin); got != tt.want {
				t.Errorf("originAllowed(%q, %q) = %v, want %v", tt.origins, tt.origin, got, tt.want)
			}
		})
	}
}

func TestMetricsCountRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, func() int { return 0 })
	h := m.instrument("/graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("fail") {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	for _, target := range []string{"/graphql", "/query", "/graphql?fail"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, target, nil))
	}

	if got := testutil.ToFloat64(m.requests.WithLabelValues("/graphql", "post", "200")); got != 2 {
		t.Errorf("200 count = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/graphql", "post", "400")); got != 1 {
		t.Errorf("400 count = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "jobsphere_http_request_duration_seconds"); err != nil || n != 1 {
		t.Errorf("duration series = %d (%v), want 1", n, err)
	}
}

// hijackChain is the middleware stack of NewServer around one handler.
func hijackChain(logger *slog.Logger, m *metrics, h http.Handler) http.Handler {
	h = m.instrument("/ws", h)
	h = limitBody(testBodyLimits(16, 64))(h)
	h = corsMiddleware([]string{"*"})(h)
	h = recoverPanics(logger)(h)
	h = accessLog(logger)(h)
	return requestID(h)
}

func TestHijackThroughMiddleware(t *testing.T) {
	tests := []struct {
		name string
		// writeHeader sends 101 through the ResponseWriter before hijacking,
		// as websocket libraries do; otherwise the handler answers on the
		// raw connection.
		writeHeader bool
		// promhttp only knows the status passed to WriteHeader, and
		// reports 200 when there was none.
		wantCode string
	}{
		{"101 written, then hijacked", true, "101"},
		{"hijacked, 101 written on the connection", false, "200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, buf := newTestLogger()
			m := newMetrics(prometheus.NewRegistry(), func() int { return 0 })
			echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// A plain type assertion, as strict as any library is.
				hj, ok := w.(http.Hijacker)
				if !ok {
					t.Error("the writer is not an http.Hijacker")
					w.WriteHeader(http.StatusNotImplemented)
					return
				}
				if tt.writeHeader {
					w.Header().Set("Upgrade", "echo")
					w.Header().Set("Connection", "Upgrade")
					w.WriteHeader(http.StatusSwitchingProtocols)
				}
				conn, rw, err := hj.Hijack()
				if err != nil {
					t.Errorf("Hijack: %v", err)
					return
				}
				defer conn.Close()
				if !tt.writeHeader {
					_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
					_ = rw.Flush()
				}
				line, err := rw.ReadString('\n')
				if err != nil {
					t.Errorf("server read: %v", err)
					return
				}
				_, _ = rw.WriteString(line)
				_ = rw.Flush()
			})
			done := make(chan struct{})
			chain := hijackChain(logger, m, echo)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(done)
				chain.ServeHTTP(w, r)
			}))
			defer srv.Close()

			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A safeguard against a hang, not a wait: the exchange is instant.
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			_, err = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			if err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status = %d, want 101", res.StatusCode)
			}
			if _, err := io.WriteString(conn, "ping\n"); err != nil {
				t.Fatal(err)
			}
			if got, err := br.ReadString('\n'); err != nil || got != "ping\n" {
				t.Fatalf("echo = %q (%v), want ping", got, err)
			}
			<-done

			lines := decodeLogLines(t, buf)
			if len(lines) != 1 || lines[0]["status"] != float64(101) || lines[0]["path"] != "/ws" {
				t.Errorf("log = %v, want one line with status 101 for /ws", lines)
			}
			if got := testutil.ToFloat64(m.requests.WithLabelValues("/ws", "get", tt.wantCode)); got != 1 {
				t.Errorf("count for code %s = %v, want 1", tt.wantCode, got)
			}
		})
	}
}

// TestWebsocketThroughMiddleware runs the websocket library the GraphQL
// transport uses through the middleware stack.
func TestWebsocketThroughMiddleware(t *testing.T) {
	logger, buf := newTestLogger()
	m := newMetrics(prometheus.NewRegistry(), func() int { return 0 })
	done := make(chan struct{})
	chain := hijackChain(logger, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			t.Errorf("server read: %v", err)
			return
		}
		if err := c.Write(r.Context(), typ, msg); err != nil {
			t.Errorf("server write: %v", err)
		}
		// Wait for the client's close so the close handshake completes.
		_, _, _ = c.Read(r.Context())
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		chain.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("X-Request-ID") == "" {
		t.Error("the upgrade response has no X-Request-ID")
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
		t.Fatalf("echo = %q (%v), want ping", msg, err)
	}
	_ = c.Close(websocket.StatusNormalClosure, "")
	<-done

	if lines := decodeLogLines(t, buf); len(lines) != 1 || lines[0]["status"] != float64(101) {
		t.Errorf("log = %v, want one line with status 101", lines)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/ws", "get", "101")); got != 1 {
		t.Errorf("count for code 101 = %v, want 1", got)
	}
}

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	handleHealthz().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("got %d %q", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name       string
		pingErr    error
		wantStatus int
		wantBody   string
	}{
		{"database answers", nil, http.StatusOK, `{"status":"ready"}`},
		{"database down", errors.New("dial tcp db.internal:5432: connection refused"), http.StatusServiceUnavailable, `{"status":"unavailable"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, buf := newTestLogger()
			ping := func(ctx context.Context) error {
				deadline, ok := ctx.Deadline()
				if !ok || time.Until(deadline) > 2*time.Second {
					t.Errorf("ping deadline = %v (%v), want at most 2s away", deadline, ok)
				}
				return tt.pingErr
			}
			rec := httptest.NewRecorder()
			handleReadyz(ping, logger).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))

			if rec.Code != tt.wantStatus || strings.TrimSpace(rec.Body.String()) != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			lines := decodeLogLines(t, buf)
			if tt.pingErr == nil {
				if len(lines) != 0 {
					t.Errorf("log = %v, want nothing", lines)
				}
				return
			}
			if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["err"] != tt.pingErr.Error() {
				t.Errorf("log = %v, want one warning with the error", lines)
			}
		})
	}
}
