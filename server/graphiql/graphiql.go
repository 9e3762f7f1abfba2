// Package graphiql serves GraphiQL from the binary: the page at / and every
// file it loads under /graphiql/, so that it works on a machine with no
// internet access. assets/ holds the browser builds of GraphiQL and React,
// copied from the versions npm/package-lock.json pins by
// `make graphiql-assets`; page/ holds the project's own page: GraphiQL with
// a sign-in helper that puts the access token into its request headers, and
// the client/operations documents as examples.
package graphiql

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed assets/graphiql.min.js assets/graphiql.min.css assets/react.production.min.js assets/react-dom.production.min.js
//go:embed page/index.html page/page.js page/page.css
var files embed.FS

// AssetPrefix is where the page's files are served.
const AssetPrefix = "/graphiql/"

// contentSecurityPolicy lets the page load nothing from elsewhere.
// GraphiQL's stylesheet carries its fonts and icons as data: URLs.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one file the page loads. Its name carries a hash of its body,
// so browsers may keep it for good.
type asset struct {
	body        []byte
	contentType string
}

type site struct {
	page   []byte
	assets map[string]asset // by file name under AssetPrefix
}

// load builds the page and its assets once per process: the inputs are
// compiled in.
var load = sync.OnceValues(build)

func build() (*site, error) {
	s := &site{assets: map[string]asset{}}
	urls := map[string]string{}
	for _, name := range []string{
		"assets/react.production.min.js", "assets/react-dom.production.min.js",
		"assets/graphiql.min.js", "assets/graphiql.min.css",
		"page/page.js", "page/page.css",
	} {
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		urls[path.Base(name)] = s.add(path.Base(name), body)
	}
	examples, err := loadExamples()
	if err != nil {
		return nil, fmt.Errorf("load the examples: %w", err)
	}
	body, err := json.Marshal(examples)
	if err != nil {
		return nil, fmt.Errorf("encode the examples: %w", err)
	}
	urls["examples.json"] = s.add("examples.json", body)
	tmpl, err := template.ParseFS(files, "page/index.html")
	if err != nil {
		return nil, fmt.Errorf("parse the page: %w", err)
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, urls); err != nil {
		return nil, fmt.Errorf("render the page: %w", err)
	}
	s.page = page.Bytes()
	return s, nil
}

// add serves body under name with a hash of it after the name's stem
// (graphiql.<hash>.min.js), and returns its URL.
func (s *site) add(name string, body []byte) string {
	sum := sha256.Sum256(body)
	stem, rest, _ := strings.Cut(name, ".")
	hashed := stem + "." + hex.EncodeToString(sum[:6]) + "." + rest
	s.assets[hashed] = asset{body: body, contentType: contentTypes[path.Ext(name)]}
	return AssetPrefix + hashed
}

var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
}

// Page serves GraphiQL's page.
func Page() http.Handler {
	s, err := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.Error(w, "GraphiQL is not available: "+err.Error(), http.StatusInternalServerError)
			return
		}
		secure(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The page names its assets by hash: a new binary's page must be
		// fetched again.
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.page))
	})
}

// Assets serves the page's files, at AssetPrefix{file}.
func Assets() http.Handler {
	s, err := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := asset{}, false
		if err == nil {
			a, ok = s.assets[r.PathValue("file")]
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		secure(w.Header())
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

func secure(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
