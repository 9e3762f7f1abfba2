package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jobsphere/jobsphere/client/gqlclient"
)

// callError is a failed GraphQL call: the server's error code (CONFLICT,
// INSUFFICIENT_FUNDS, …), or unavailable when no process answered after
// every retry.
type callError struct {
	code, message string
}

const unavailable = "UNAVAILABLE"

func (e *callError) Error() string { return e.code + ": " + e.message }

// errCode is the error's code, "" for nil.
func errCode(err *callError) string {
	if err == nil {
		return ""
	}
	return err.code
}

// call posts a GraphQL operation to a random live process as the given
// user (token) from the given address (X-Forwarded-For, as the load
// balancer in front of the replicas would add it). A process that is
// down, killed mid-request or failing with 5xx is retried on another,
// with the same variables: an idempotency key in them makes the retry
// safe, and without one the server's answer (CONFLICT, …) tells what
// happened.
func (a *actor) call(ctx context.Context, token, ip, query string, vars map[string]any, out any) *callError {
	req := gqlclient.Request{Query: query, Variables: vars, Token: token, Header: http.Header{"X-Forwarded-For": {ip}}}
	backoff := 50 * time.Millisecond
	var last string
	for attempt := 0; attempt < 14; attempt++ {
		if attempt > 0 {
			a.w.stats.retry()
			select {
			case <-ctx.Done():
				return &callError{unavailable, ctx.Err().Error()}
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
		p := a.w.cluster.pick(a.rng.IntN)
		if p == nil {
			last = "no process is up"
			continue
		}
		resp, err := a.post(ctx, p.url+"/graphql", req)
		if err != nil {
			last = err.Error()
			continue
		}
		if resp.Data == nil && len(resp.Errors) == 0 {
			last = "empty response"
			continue
		}
		if len(resp.Errors) > 0 {
			e := resp.Errors[0]
			code := e.Code()
			if code == "" {
				code = "NO_CODE"
			}
			return &callError{code, e.Message}
		}
		if out != nil {
			if err := json.Unmarshal(resp.Data, out); err != nil {
				return &callError{"DECODE", err.Error()}
			}
		}
		return nil
	}
	return &callError{unavailable, last}
}

// post sends one attempt; a 5xx answer is a failed attempt, like no
// answer.
func (a *actor) post(ctx context.Context, url string, req gqlclient.Request) (*gqlclient.Response, error) {
	resp, err := gqlclient.Post(ctx, a.http, url, req)
	if resp != nil && resp.Status >= 500 {
		return nil, fmt.Errorf("HTTP %d: %s", resp.Status, bytes.TrimSpace(resp.Body))
	}
	return resp, err
}

// cents parses a Decimal ("105.00") into minor units.
func cents(s string) int64 {
	whole, frac, _ := strings.Cut(s, ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	frac = (frac + "00")[:2]
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f
}

// decimal formats minor units for the API.
func decimal(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// money formats minor units for people.
func money(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return sign + "$" + decimal(c)
}
