// Package web serves the operator console, a React app built from this
// folder's sources (npm run build) into dist/, which is committed and
// embedded here: the binary serves it without Node. `make check-console`
// fails when dist/ is not what the sources build.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// Prefix is where the console is served; Vite's base (vite.config.ts)
// builds it for this path.
const Prefix = "/admin"

// Console serves the console under Prefix: its files, and index.html for
// every other path (the app's own routes, /admin/users/… and so on).
// Hashed assets are cached for a year; index.html is revalidated, so a new
// binary's console is picked up on the next load. The console talks to
// /graphql on its own origin, and its Content-Security-Policy allows
// nothing else, except images (dispute attachments) from publicURL, where
// media URLs point.
func Console(publicURL string) http.Handler {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time: it is there
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic("web: dist/index.html is missing: run `npm run build` in web/")
	}
	csp := contentSecurityPolicy(publicURL)
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		name := strings.TrimPrefix(path.Clean(strings.TrimPrefix(r.URL.Path, Prefix)), "/")
		switch {
		case strings.HasPrefix(name, "assets/"):
			// A missing asset is a 404, not the app: a stale page asking
			// for an old bundle must not get HTML as JavaScript.
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + name
			fileServer.ServeHTTP(w, r2)
		case name != "" && name != "." && name != "index.html" && exists(files, name):
			h.Set("Cache-Control", "no-cache")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + name
			fileServer.ServeHTTP(w, r2)
		default:
			h.Set("Cache-Control", "no-cache")
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(index)
		}
	})
}

func exists(files fs.FS, name string) bool {
	st, err := fs.Stat(files, name)
	return err == nil && !st.IsDir()
}

// contentSecurityPolicy allows the console's own scripts, styles and
// requests (the API and its websocket are on the same origin), and
// images from there or from the media's public URL.
func contentSecurityPolicy(publicURL string) string {
	img := "'self' data: blob:"
	if u, err := url.Parse(publicURL); err == nil && u.Scheme != "" && u.Host != "" {
		img += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src " + img +
		"; media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}
