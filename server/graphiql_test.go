package server_test

import (
	"net/http"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestGraphiQLIsSelfContained: the page at / loads only files this server
// serves (no CDN, no URL with a host), its examples included, each with its content type, a
// cache lifetime it can afford (the page: revalidate; the assets, named by
// hash: for good) and a policy that lets the browser fetch nothing else;
// production serves none of it.
func TestGraphiQLIsSelfContained(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	resp, page := srv.Get(t, "/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("GET /: Cache-Control %q", got)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "style-src 'self'"} {
		if !strings.Contains(csp, directive+";") {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, directive)
		}
	}
	if strings.Contains(page, "//") {
		t.Errorf("the page names a URL with a host:\n%s", page)
	}

	var assets []string
	refs := regexp.MustCompile(`(?:src|href|data-examples)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	kinds := map[string]int{}
	for _, ref := range refs {
		u := ref[1]
		if !strings.HasPrefix(u, "/graphiql/") {
			t.Errorf("the page loads %q: not one of its own assets", u)
			continue
		}
		assets = append(assets, u)
		resp, body := srv.Get(t, u)
		ext := path.Ext(u)
		kinds[ext]++
		want := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".json": "application/json"}[ext]
		switch {
		case resp.StatusCode != http.StatusOK || body == "":
			t.Errorf("GET %s: %d, %d bytes", u, resp.StatusCode, len(body))
		case resp.Header.Get("Content-Type") != want:
			t.Errorf("GET %s: Content-Type %q, want %q", u, resp.Header.Get("Content-Type"), want)
		case resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable":
			t.Errorf("GET %s: Cache-Control %q", u, resp.Header.Get("Cache-Control"))
		case resp.Header.Get("X-Content-Type-Options") != "nosniff":
			t.Errorf("GET %s: no nosniff", u)
		}
	}
	// React, ReactDOM, GraphiQL and the page's script; GraphiQL's and the
	// page's styles; the examples (client/operations) the script loads.
	if kinds[".js"] != 4 || kinds[".css"] != 2 || kinds[".json"] != 1 {
		t.Errorf("the page loads %v, want 4 scripts, 2 stylesheets and the examples:\n%s", kinds, page)
	}
	if resp, _ := srv.Get(t, "/graphiql/graphiql.min.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an asset without its hash: %d", resp.StatusCode)
	}

	// Production serves neither the page nor its files.
	env := servertest.Env(t, servertest.SQLite)
	env["APP_ENV"] = "production"
	env["BCRYPT_COST"] = "10"
	servertest.StripeEnv(env, "http://127.0.0.1:1") // required in production; nothing here calls Stripe
	prod := servertest.Start(t, env)
	for _, u := range append(assets, "/") {
		if resp, _ := prod.Get(t, u); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s in production: %d", u, resp.StatusCode)
		}
	}
}
