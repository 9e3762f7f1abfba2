package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
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

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// call posts a GraphQL operation to a random live process as the given
// user (token) from the given address (X-Forwarded-For, as the load
// balancer in front of the replicas would add it). A process that is
// down, killed mid-request or failing with 5xx is retried on another,
// with the same variables: an idempotency key in them makes the retry
// safe, and without one the server's answer (CONFLICT, …) tells what
// happened.
func (a *actor) call(ctx context.Context, token, ip, query string, vars map[string]any, out any) *callError {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(err)
	}
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
		resp, err := a.post(ctx, p.url+"/graphql", token, ip, body)
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
			code, _ := e.Extensions["code"].(string)
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

func (a *actor) post(ctx context.Context, url, token, ip string, body []byte) (*gqlResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 500 {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("HTTP %d: undecodable body: %v", resp.StatusCode, err)
	}
	return &out, nil
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
