// Package gqlclient posts GraphQL operations over HTTP and decodes the
// answers: the one client of the test harness (server/servertest), the
// chaos run and the load generator. It leaves retries, timeouts (its
// caller's *http.Client and context) and what counts as a failure to its
// callers, and imports no testing code, so the tools' binaries stay free
// of it.
package gqlclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Response is a GraphQL response and the HTTP answer it came in.
type Response struct {
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
	Status int             `json:"-"` // the HTTP status
	Body   []byte          `json:"-"` // the answer as it arrived
}

// Error is one GraphQL error as the server presents it.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Field is one entry of extensions.fields.
type Field struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Fields decodes extensions.fields.
func (e Error) Fields() []Field {
	raw, _ := json.Marshal(e.Extensions["fields"])
	var fs []Field
	_ = json.Unmarshal(raw, &fs)
	return fs
}

// ErrorSummary lists the errors as "CODE: message" for failure messages.
func (r Response) ErrorSummary() string {
	parts := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		parts[i] = fmt.Sprintf("%s: %s %v", e.Code(), e.Message, e.Extensions["fields"])
	}
	return strings.Join(parts, "; ")
}

// Request is one operation and who sends it.
type Request struct {
	Query     string
	Variables map[string]any
	Token     string      // bearer token; empty: anonymous
	Header    http.Header // more headers (X-Forwarded-For, …); may be nil
}

// Post sends r to the GraphQL endpoint url as a JSON body, through hc
// (nil: http.DefaultClient); see PostBody.
func Post(ctx context.Context, hc *http.Client, url string, r Request) (*Response, error) {
	body, err := json.Marshal(map[string]any{"query": r.Query, "variables": r.Variables})
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return PostBody(ctx, hc, url, r.Token, r.Header, "application/json", bytes.NewReader(body))
}

// PostBody sends a raw body of contentType to the GraphQL endpoint url.
// It fails without a Response when no whole answer arrived, and with one
// (its Status and Body) when the answer is not a GraphQL response; a
// GraphQL error, whatever the HTTP status, is no error here.
func PostBody(ctx context.Context, hc *http.Client, url, token string, header http.Header, contentType string, body io.Reader) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	out := &Response{Status: resp.StatusCode, Body: raw}
	if err := json.Unmarshal(raw, out); err != nil {
		return out, fmt.Errorf("HTTP %d: undecodable body: %w", resp.StatusCode, err)
	}
	return out, nil
}
