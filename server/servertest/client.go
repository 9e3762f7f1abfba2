package servertest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/jobsphere/jobsphere/client/gqlclient"
)

// Response is a GraphQL response (gqlclient's), with the assertions tests
// make on it.
type Response struct{ gqlclient.Response }

// Error is one GraphQL error as the server presents it.
type Error = gqlclient.Error

// Field is one entry of extensions.fields.
type Field = gqlclient.Field

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
	resp, err := gqlclient.Post(context.Background(), nil, c.URL, gqlclient.Request{Query: query, Variables: vars, Token: c.Token, Header: c.Header})
	return c.decoded(t, resp, err)
}

// Post sends a raw body to the GraphQL endpoint.
func (c *Client) Post(t testing.TB, contentType string, body io.Reader) Response {
	t.Helper()
	resp, err := gqlclient.PostBody(context.Background(), nil, c.URL, c.Token, c.Header, contentType, body)
	return c.decoded(t, resp, err)
}

// decoded fails the test unless a GraphQL response arrived.
func (c *Client) decoded(t testing.TB, resp *gqlclient.Response, err error) Response {
	t.Helper()
	if resp == nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("decode response: %v\n%s", err, resp.Body)
	}
	return Response{*resp}
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
