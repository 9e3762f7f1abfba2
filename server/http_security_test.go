package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/ent/media"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// The HTTP layer under attack by real clients: bodies that never finish,
// uploads without end, a metrics page anyone can read, and part headers
// too big for the file-name guard.

// dribble sends a request's head and the start of its body on a raw
// connection, then one more byte every 100 ms until the server answers.
// It returns the answer and the error of reading on past it: nil only if
// the server left the connection open.
func dribble(t *testing.T, srv *servertest.Server, method, path string, header http.Header, length int, start []byte) (*http.Response, []byte, error) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n", method, path, length)
	_ = header.Write(&head)
	head.WriteString("\r\n")
	if _, err := conn.Write(append(head.Bytes(), start...)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for sent := len(start); sent < length-1; sent++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	// Not a timing assertion: only how long to wait for a server that
	// never answers before failing.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s: no answer to a dribbled body: %v", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp, body, err
}

// multipartStart is a multipart body up to the middle of a part: the
// client is still sending the file.
func multipartStart(field string) (contentType string, start []byte) {
	const boundary = "slowboundary"
	var b strings.Builder
	if field == "0" { // GraphQL's multipart request: operations and map first
		b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n" +
			`{"query":"mutation($f: Upload!) { uploadMedia(file: $f) { mediaUrl } }","variables":{"f":null}}` + "\r\n")
		b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n" + `{"0":["variables.f"]}` + "\r\n")
	}
	b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\"a.png\"\r\n" +
		"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n")
	return "multipart/form-data; boundary=" + boundary, []byte(b.String())
}

// pacedReader hands out its data in pieces with a pause before each.
type pacedReader struct {
	data  []byte
	piece int
	pause time.Duration
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(p.pause)
	n := copy(b[:min(len(b), p.piece)], p.data)
	p.data = p.data[n:]
	return n, nil
}

// TestSlowBodiesAreCutOff: a client that sends the headers and then
// dribbles the body is answered 408 REQUEST_TIMEOUT once BODY_READ_TIMEOUT
// (uploads: BODY_READ_TIMEOUT + size / UPLOAD_MIN_RATE) has passed, its
// connection is closed and it is counted in jobsphere_http_slow_bodies_total.
// A slow upload within its own deadline, normal requests and a websocket
// open longer than the timeout all still work.
func TestSlowBodiesAreCutOff(t *testing.T) {
	srv := secStart(t, "BODY_READ_TIMEOUT", "1s", "UPLOAD_MIN_RATE", "1024")
	u := srv.Register(t, "CUSTOMER")

	headers := func(contentType string) http.Header {
		return http.Header{"Content-Type": {contentType}, "Authorization": {"Bearer " + u.AccessToken}}
	}
	uploadType, uploadStart := multipartStart("0")
	restType, restStart := multipartStart("media")
	for _, tc := range []struct {
		method, path string
		header       http.Header
		length       int
		start        []byte
		status       int
	}{
		{"POST", "/graphql", headers("application/json"), 100000, []byte(`{"query":"{ __typename }","x":"`), http.StatusRequestTimeout},
		{"POST", "/webhooks/stripe", headers("application/json"), 100000, []byte(`{"id":"evt_`), http.StatusRequestTimeout},
		// 1 s + 4096 B / 1024 B/s: cut off after 5 s.
		{"POST", "/graphql", headers(uploadType), 4096, uploadStart, http.StatusRequestTimeout},
		{"POST", "/api/media/upload", headers(restType), 4096, restStart, http.StatusRequestTimeout},
		// Answered without reading the body (a CORS preflight, a route
		// that takes none): net/http reads it after the handler, under
		// the same deadline, then closes the connection.
		{"OPTIONS", "/graphql", http.Header{"Origin": {servertest.AllowedOrigin}, "Access-Control-Request-Method": {"POST"}}, 100000, []byte("{"), http.StatusNoContent},
		{"GET", "/healthz", headers("application/json"), 100000, []byte("{"), http.StatusOK},
	} {
		resp, body, err := dribble(t, srv, tc.method, tc.path, tc.header, tc.length, tc.start)
		if resp.StatusCode != tc.status || (tc.status == http.StatusRequestTimeout && secErrorCode(body) != "REQUEST_TIMEOUT") {
			t.Errorf("%s %s %s dribbled: %d %.200s", tc.method, tc.path, tc.header.Get("Content-Type"), resp.StatusCode, body)
		}
		if ne, ok := err.(net.Error); err == nil || (ok && ne.Timeout()) {
			t.Errorf("%s %s %s: connection left open after the answer (%v)", tc.method, tc.path, tc.header.Get("Content-Type"), err)
		}
	}
	if n := metricValue(t, scrape(t, srv), "jobsphere_http_slow_bodies_total", nil); n != 4 {
		t.Errorf("jobsphere_http_slow_bodies_total = %v, want 4", n)
	}
	if files := mediaFiles(t, srv); len(files) != 0 {
		t.Errorf("cut-off uploads kept: %v", files)
	}

	// An upload of 2 KB taking 1.5 s: slower than BODY_READ_TIMEOUT, well
	// within its own 1 s + 2 s.
	img := pngBytes(t, 16)
	var form bytes.Buffer
	w := multipart.NewWriter(&form)
	part, _ := w.CreateFormFile("media", "a.png")
	_, _ = part.Write(img)
	_ = w.Close()
	size := form.Len()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/media/upload", &pacedReader{data: form.Bytes(), piece: size/3 + 1, pause: 500 * time.Millisecond})
	req.ContentLength = int64(size)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+u.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a slow upload within its deadline (%d bytes): %d %s", size, resp.StatusCode, out)
	}

	// Websockets have no body deadline: one idle past BODY_READ_TIMEOUT
	// still answers.
	ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + u.AccessToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if r := ws.Query(t, `{ me { id } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("websocket after BODY_READ_TIMEOUT: %s", r.ErrorSummary())
	}
	srv.Client(u.AccessToken).MustDo(t, `{ me { id } }`, nil, nil)
	if n := metricValue(t, scrape(t, srv), "jobsphere_http_slow_bodies_total", nil); n != 4 {
		t.Errorf("jobsphere_http_slow_bodies_total = %v after the good requests, want 4", n)
	}
}

// mediaRows counts the media records of an owner.
func mediaRows(t *testing.T, srv *servertest.Server, owner string) int {
	t.Helper()
	return srv.App.Client.Media.Query().Where(media.OwnerID(pulid.ID(owner))).CountX(context.Background())
}

// TestUploadRateLimitAndQuota: each user may upload UPLOAD_LIMIT_PER_HOUR
// files an hour and keep UPLOAD_QUOTA_BYTES in all, counted from the
// stored records; past either, both upload routes refuse (RATE_LIMITED /
// 429, PAYLOAD_TOO_LARGE / 413) and nothing is stored. Parallel uploads
// cannot overshoot a nearly full quota.
func TestUploadRateLimitAndQuota(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		img := pngBytes(t, 16)
		env := servertest.Env(t, db)
		env["UPLOAD_LIMIT_PER_HOUR"] = "5"
		env["UPLOAD_QUOTA_BYTES"] = strconv.Itoa(3*len(img) - 1) // two images fit, not three
		srv := servertest.Start(t, env)

		// The rate limit: five uploads an hour, then none by either route.
		// Refused uploads count too.
		heavy := srv.Register(t, "CONTRACTOR")
		hc := srv.Client(heavy.AccessToken)
		uploadGraphQL(t, hc, "text.png", []byte("not an image")).RequireError(t, "BAD_USER_INPUT")
		for range 2 {
			if r := uploadGraphQL(t, hc, "a.gif", []byte("GIF89a tiny")); len(r.Errors) > 0 {
				t.Fatalf("upload under the limit: %s", r.ErrorSummary())
			}
			if code, out := uploadREST(t, srv, heavy.AccessToken, "a.gif", []byte("GIF89a tiny")); code != http.StatusOK {
				t.Fatalf("REST upload under the limit: %d %v", code, out)
			}
		}
		files := mediaFiles(t, srv)
		e := uploadGraphQL(t, hc, "a.gif", []byte("GIF89a tiny")).RequireError(t, "RATE_LIMITED")
		if e.Extensions["retryAfterSeconds"] == nil {
			t.Errorf("no retryAfterSeconds: %+v", e)
		}
		if code, out := uploadREST(t, srv, heavy.AccessToken, "a.gif", []byte("GIF89a tiny")); code != http.StatusTooManyRequests || out["errors"] == nil {
			t.Errorf("REST over the limit: %d %v", code, out)
		}
		if n := mediaRows(t, srv, heavy.ID); n != 4 || len(mediaFiles(t, srv)) != len(files) {
			t.Errorf("over the limit: %d records, files %v → %v", n, files, mediaFiles(t, srv))
		}

		// The quota: two images fit, the third is refused by either route.
		full := srv.Register(t, "CONTRACTOR")
		fc := srv.Client(full.AccessToken)
		if r := uploadGraphQL(t, fc, "a.png", img); len(r.Errors) > 0 {
			t.Fatalf("upload under the quota: %s", r.ErrorSummary())
		}
		if code, out := uploadREST(t, srv, full.AccessToken, "b.png", img); code != http.StatusOK {
			t.Fatalf("REST upload under the quota: %d %v", code, out)
		}
		files = mediaFiles(t, srv)
		e = uploadGraphQL(t, fc, "c.png", img).RequireError(t, "PAYLOAD_TOO_LARGE")
		if !strings.Contains(e.Message, "quota") {
			t.Errorf("quota refusal: %q", e.Message)
		}
		if code, out := uploadREST(t, srv, full.AccessToken, "c.png", img); code != http.StatusRequestEntityTooLarge || !strings.Contains(fmt.Sprint(out), "quota") {
			t.Errorf("REST over the quota: %d %v", code, out)
		}
		// A smaller file that still fits is taken.
		if r := uploadGraphQL(t, fc, "d.gif", []byte("GIF89a tiny")); len(r.Errors) > 0 {
			t.Errorf("a small file within the rest of the quota: %s", r.ErrorSummary())
		}
		if n := mediaRows(t, srv, full.ID); n != 3 || len(mediaFiles(t, srv)) != len(files)+1 {
			t.Errorf("over the quota: %d records, files %v → %v", n, files, mediaFiles(t, srv))
		}

		// Four parallel uploads with room for two: two are stored, two refused.
		racer := srv.Register(t, "CUSTOMER")
		rc := srv.Client(racer.AccessToken)
		files = mediaFiles(t, srv)
		var wg sync.WaitGroup
		codes := make([]string, 4)
		for i := range codes {
			wg.Go(func() {
				r := uploadGraphQL(t, rc, "r.png", img)
				codes[i] = "OK"
				if len(r.Errors) > 0 {
					codes[i] = r.Errors[0].Code()
				}
			})
		}
		wg.Wait()
		if got := strings.Join(codes, ","); strings.Count(got, "OK") != 2 || strings.Count(got, "PAYLOAD_TOO_LARGE") != 2 {
			t.Errorf("parallel uploads into a quota for two: %s", got)
		}
		var stored int64
		for _, m := range srv.App.Client.Media.Query().Where(media.OwnerID(pulid.ID(racer.ID))).AllX(context.Background()) {
			stored += m.Bytes
		}
		if n := mediaRows(t, srv, racer.ID); n != 2 || stored >= int64(3*len(img)-1) || len(mediaFiles(t, srv)) != len(files)+2 {
			t.Errorf("after the race: %d records of %d bytes, files %v → %v", n, stored, files, mediaFiles(t, srv))
		}
	})
}

// TestMetricsAccess: with METRICS_TOKEN, /metrics wants it as a bearer
// token; with METRICS_ADDR, /metrics is served there and not on the API's
// address; in production with neither, it is not served, and the server
// says so in its log.
func TestMetricsAccess(t *testing.T) {
	const token = "metrics-token-0123456789"
	get := func(t *testing.T, url, authorization string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	t.Run("token", func(t *testing.T) {
		srv := secStart(t, "METRICS_TOKEN", token)
		for _, authorization := range []string{"", "Bearer wrong-token-0123456789", "Basic " + token, "Bearer " + token + "x"} {
			if code, body := get(t, srv.URL+"/metrics", authorization); code != http.StatusUnauthorized || strings.Contains(body, "jobsphere_") {
				t.Errorf("/metrics with %q: %d %.100s", authorization, code, body)
			}
		}
		if code, body := get(t, srv.URL+"/metrics", "Bearer "+token); code != http.StatusOK || !strings.Contains(body, "jobsphere_websocket_connections ") {
			t.Errorf("/metrics with the token: %d %.100s", code, body)
		}
	})

	t.Run("own address", func(t *testing.T) {
		srv := secStart(t, "METRICS_ADDR", "127.0.0.1:0")
		if srv.MetricsURL == "" {
			t.Fatal("no metrics listener")
		}
		if code, body := get(t, srv.URL+"/metrics", ""); code != http.StatusNotFound || strings.Contains(body, "jobsphere_") {
			t.Errorf("/metrics on the API's address: %d %.100s", code, body)
		}
		if code, body := get(t, srv.MetricsURL+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, "jobsphere_websocket_connections ") {
			t.Errorf("/metrics on METRICS_ADDR: %d %.100s", code, body)
		}
		if code, _ := get(t, srv.MetricsURL+"/graphql", ""); code != http.StatusNotFound {
			t.Errorf("the API on METRICS_ADDR: %d", code)
		}
	})

	t.Run("production", func(t *testing.T) {
		env := servertest.Env(t, servertest.SQLite)
		env["APP_ENV"], env["BCRYPT_COST"] = "production", "10"
		servertest.StripeEnv(env, "http://127.0.0.1:1")
		srv := servertest.Start(t, env)
		if code, body := get(t, srv.URL+"/metrics", ""); code != http.StatusNotFound || strings.Contains(body, "jobsphere_") {
			t.Errorf("/metrics in production without a token or address: %d %.100s", code, body)
		}
		if !strings.Contains(srv.Logs.String(), "METRICS_TOKEN") {
			t.Errorf("no warning that metrics are off:\n%.2000s", srv.Logs.String())
		}
	})
}

// bigHeaderUpload is a multipart upload whose file part has a 17 KB
// header before its Content-Disposition: more than the file-name guard
// keeps of a part header.
func bigHeaderUpload(field, fileName string, data []byte, graphQL bool) (contentType string, body []byte) {
	const boundary = "bigheaderboundary"
	var b bytes.Buffer
	if graphQL {
		b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n" +
			`{"query":"mutation($f: Upload!) { uploadMedia(file: $f) { mediaUrl } }","variables":{"f":null}}` + "\r\n")
		b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n" + `{"0":["variables.f"]}` + "\r\n")
	}
	b.WriteString("--" + boundary + "\r\nX-Padding: " + strings.Repeat("p", 17<<10) + "\r\n")
	b.WriteString("Content-Disposition: form-data; name=\"" + field + "\"; filename=\"" + fileName + "\"\r\nContent-Type: image/png\r\n\r\n")
	b.Write(data)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return "multipart/form-data; boundary=" + boundary, b.Bytes()
}

// TestBigPartHeaderCannotHideAFileName: a part header too big for the
// guard to read is refused with BAD_USER_INPUT (REST: 400), whatever the
// name behind it, and nothing is stored.
func TestBigPartHeaderCannotHideAFileName(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	u := srv.Register(t, "CUSTOMER")
	img := pngBytes(t, 8)
	for _, name := range []string{"../../etc/x.png", "x.png"} {
		contentType, body := bigHeaderUpload("0", name, img, true)
		r := srv.Client(u.AccessToken).Post(t, contentType, bytes.NewReader(body))
		if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Errorf("GraphQL upload named %q behind a 17 KB header: %s %s", name, r.Data, r.ErrorSummary())
		}
		contentType, body = bigHeaderUpload("media", name, img, false)
		status, _, raw := secRequest(t, http.MethodPost, srv.URL+"/api/media/upload", contentType, body, false,
			http.Header{"Authorization": {"Bearer " + u.AccessToken}})
		if status != http.StatusBadRequest || secErrorCode(raw) != "BAD_USER_INPUT" {
			t.Errorf("REST upload named %q behind a 17 KB header: %d %s", name, status, raw)
		}
	}
	if files := mediaFiles(t, srv); len(files) != 0 || mediaRows(t, srv, u.ID) != 0 {
		t.Errorf("stored: %v", files)
	}
}
