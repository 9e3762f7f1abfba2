package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// The operator console at /admin: the embedded build, the app's routes
// falling back to index.html, assets with their types and a long cache,
// and a Content-Security-Policy of the console's own origin.
func TestConsoleServing(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	var index string
	for _, path := range []string{"/admin", "/admin/", "/admin/users/usr_01J0000000000000000000000Z", "/admin/disputes", "/admin/index.html"} {
		resp, body := srv.Get(t, path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(body, `<div id="root"></div>`) {
			t.Fatalf("GET %s is not the console's index.html:\n%s", path, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q: index.html must be revalidated", path, cc)
		}
		requireConsoleHeaders(t, path, resp, srv.URL)
		index = body
	}

	assets := regexp.MustCompile(`(?:src|href)="(/admin/assets/[^"]+)"`).FindAllStringSubmatch(index, -1)
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	if len(assets) < 2 {
		t.Fatalf("index.html names %d assets: %s", len(assets), index)
	}
	for _, m := range assets {
		path := m[1]
		resp, body := srv.Get(t, path)
		ext := path[strings.LastIndex(path, "."):]
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != types[ext] || len(body) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q: hashed assets are cached for good", path, cc)
		}
		requireConsoleHeaders(t, path, resp, srv.URL)
	}

	// A missing asset is not the app (HTML served as a script); other
	// methods are not served.
	if resp, _ := srv.Get(t, "/admin/assets/index-missing.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a missing asset: %d", resp.StatusCode)
	}
	resp, err := http.Post(srv.URL+"/admin/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /admin/: %d", resp.StatusCode)
	}
}

func requireConsoleHeaders(t *testing.T, path string, resp *http.Response, publicURL string) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"img-src 'self' data: blob: " + publicURL, "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, directive) {
			t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, directive)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("GET %s: Content-Security-Policy %q allows unsafe sources", path, csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET %s: headers %v", path, resp.Header)
	}
}

// The console's websocket comes from the server's own origin, which need
// not be in CORS_ORIGINS (production has none by default); a host that
// merely begins like it is still refused.
func TestWebsocketFromOwnOrigin(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]int{
		"http://" + u.Host:                http.StatusSwitchingProtocols,
		"https://" + u.Host:               http.StatusSwitchingProtocols, // behind a TLS proxy
		"http://" + u.Host + ".evil.test": http.StatusForbidden,
		"null":                            http.StatusForbidden,
	} {
		if resp := wsRawUpgrade(t, srv, http.Header{"Origin": {origin}}); resp.StatusCode != want {
			t.Errorf("upgrade from %s: %d, want %d", origin, resp.StatusCode, want)
		}
	}
}
