package servertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Response is a GraphQL response.
type Response struct {
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
	Status int             `json:"-"`
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

// Client sends GraphQL requests over HTTP, as a given user or anonymously.
type Client struct {
	URL   string
	Token string
	// Header is added to every request.
	Header http.Header
}

// Client returns an HTTP GraphQL client for the server, with a bearer
// token when token is not empty.
func (s *Server) Client(token string) *Client {
	return &Client{URL: s.URL + "/graphql", Token: token, Header: http.Header{}}
}

// Do posts a query with variables and decodes the response.
func (c *Client) Do(t testing.TB, query string, vars map[string]any) Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return c.Post(t, "application/json", bytes.NewReader(body))
}

// Post sends a raw body to the GraphQL endpoint.
func (c *Client) Post(t testing.TB, contentType string, body io.Reader) Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := Response{Status: resp.StatusCode}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode response (status %d): %v\n%s", resp.StatusCode, err, raw)
	}
	return out
}

// MustDo runs a query that must succeed and decodes its data into out.
func (c *Client) MustDo(t testing.TB, query string, vars map[string]any, out any) {
	t.Helper()
	resp := c.Do(t, query, vars)
	if len(resp.Errors) > 0 {
		t.Fatalf("unexpected errors: %s", resp.ErrorSummary())
	}
	if out != nil {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			t.Fatalf("decode data: %v\n%s", err, resp.Data)
		}
	}
}

// ErrorSummary lists the errors as "CODE: message" for failure messages.
func (r Response) ErrorSummary() string {
	parts := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		parts[i] = fmt.Sprintf("%s: %s %v", e.Code(), e.Message, e.Extensions["fields"])
	}
	return strings.Join(parts, "; ")
}

// RequireError asserts the response failed with exactly one error of the
// given code and returns it.
func (r Response) RequireError(t testing.TB, code string) Error {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want one %s error, got %d: %s (data %s)", code, len(r.Errors), r.ErrorSummary(), r.Data)
	}
	if got := r.Errors[0].Code(); got != code {
		t.Fatalf("want code %s, got %s: %s", code, got, r.Errors[0].Message)
	}
	return r.Errors[0]
}
