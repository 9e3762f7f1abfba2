package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/jobsphere/jobsphere/client/gqlclient"
)

// client speaks GraphQL over HTTP and posts webhooks to one server.
type client struct {
	base string
	hc   *http.Client
}

func newClient(base string, conns int) *client {
	tr := &http.Transport{
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// close drops the idle connections.
func (c *client) close() { c.hc.CloseIdleConnections() }

// gqlError is an error the server reported.
type gqlError struct {
	Status  int
	Code    string
	Message string
}

func (e *gqlError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return e.Code + ": " + e.Message
}

// send makes one HTTP request to the server and reads the whole answer.
func (c *client) send(ctx context.Context, method, path string, body []byte, header map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, errors.Join(err, resp.Body.Close())
}

// do runs a GraphQL operation as token (empty: anonymous), from the
// client address xff when not empty, and decodes data into out.
func (c *client) do(ctx context.Context, token, xff, query string, vars map[string]any, out any) error {
	header := http.Header{}
	if xff != "" {
		header.Set("X-Forwarded-For", xff)
	}
	r, err := gqlclient.Post(ctx, c.hc, c.base+"/graphql", gqlclient.Request{Query: query, Variables: vars, Token: token, Header: header})
	if r == nil {
		return err
	}
	if err != nil {
		return &gqlError{Status: r.Status, Message: tail(string(r.Body), 200)}
	}
	if len(r.Errors) > 0 {
		return &gqlError{Status: r.Status, Code: r.Errors[0].Code(), Message: r.Errors[0].Message}
	}
	if r.Status != http.StatusOK {
		return &gqlError{Status: r.Status, Message: tail(string(r.Body), 200)}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Data, out)
}

// user is a signed-in account.
type user struct {
	ID, Email, Token string
}

const benchPassword = "Password123"

const authFields = `user { id email } tokens { accessToken }`

type authPayload struct {
	User   struct{ ID, Email string }
	Tokens struct{ AccessToken string }
}

// addressSeq numbers the client addresses sign-ups come from, so the
// per-address sign-up limit sees a crowd, as in production.
var addressSeq atomic.Uint32

func nextAddress() string {
	n := addressSeq.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
}

// register signs up a user of role (CUSTOMER or CONTRACTOR).
func (c *client) register(ctx context.Context, runID, role string, n int) (user, error) {
	var out struct{ Register authPayload }
	email := fmt.Sprintf("bench-%s-%s-%d@example.test", runID, role, n)
	err := c.do(ctx, "", nextAddress(), `mutation($in: RegisterInput!) { register(input: $in) { `+authFields+` } }`,
		map[string]any{"in": map[string]any{"email": email, "password": benchPassword, "name": "Bench " + role, "role": role}}, &out)
	return user{ID: out.Register.User.ID, Email: out.Register.User.Email, Token: out.Register.Tokens.AccessToken}, err
}

// login signs a user in.
func (c *client) login(ctx context.Context, email, password string) (user, error) {
	var out struct{ Login authPayload }
	err := c.do(ctx, "", nextAddress(), `mutation($in: LoginInput!) { login(input: $in) { `+authFields+` } }`,
		map[string]any{"in": map[string]any{"email": email, "password": password}}, &out)
	return user{ID: out.Login.User.ID, Email: out.Login.User.Email, Token: out.Login.Tokens.AccessToken}, err
}

// registerMany signs up n users of role, concurrently.
func (c *client) registerMany(ctx context.Context, runID, role string, n, workers int) ([]user, error) {
	users := make([]user, n)
	err := forEach(ctx, n, workers, func(ctx context.Context, i int) error {
		return retry(ctx, func() (err error) {
			users[i], err = c.register(ctx, runID, role, i)
			return err
		})
	})
	return users, err
}

// retry runs a setup step (never a measured one) up to three times while
// it fails for reasons that may pass: the server's INTERNAL (say, the
// PostgreSQL it shares ran out of connections), 5xx, network errors. The
// steps it wraps change nothing when they fail.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		err = fn()
		var ge *gqlError
		if err == nil || ctx.Err() != nil || (errors.As(err, &ge) && ge.Code != "INTERNAL" && ge.Status < 500) {
			return err
		}
	}
	return err
}

// pendingDeposit is a Checkout deposit waiting for Stripe's event.
type pendingDeposit struct {
	ID, SessionID, UserID string
	Minor                 int64
}

// deposit starts a Checkout deposit of cents minor units (stripe-mock
// answers for Stripe); its money arrives with the webhook.
func (c *client) deposit(ctx context.Context, u user, cents int64) (pendingDeposit, error) {
	var out struct {
		Deposit struct {
			Deposit   struct{ ID string }
			SessionID *string
		}
	}
	err := c.do(ctx, u.Token, "", `mutation($in: DepositInput!) { deposit(input: $in) { deposit { id status amount } wallet { pendingDeposits } checkoutUrl sessionId } }`,
		map[string]any{"in": map[string]any{"amount": fmt.Sprintf("%d.%02d", cents/100, cents%100)}}, &out)
	d := pendingDeposit{ID: out.Deposit.Deposit.ID, UserID: u.ID, Minor: cents}
	if s := out.Deposit.SessionID; s != nil {
		d.SessionID = *s
	}
	return d, err
}

// checkoutCompleted is Stripe's checkout.session.completed event for a
// paid deposit: what credits it.
func checkoutCompleted(eventID string, d pendingDeposit) []byte {
	session := d.SessionID
	if session == "" {
		session = "cs_bench_" + d.ID
	}
	payload, err := json.Marshal(map[string]any{
		"id": eventID, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"type": stripe.EventTypeCheckoutSessionCompleted, "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{
			"id": session, "object": "checkout.session", "mode": "payment", "payment_status": "paid", "status": "complete",
			"client_reference_id": d.ID, "metadata": map[string]string{"deposit_id": d.ID},
			"payment_intent": "pi_bench_" + d.ID, "amount_total": d.Minor, "currency": "usd",
		}},
	})
	if err != nil {
		panic(err)
	}
	return payload
}

// webhook delivers a payload signed now with secret, as Stripe does; any
// status but 200 is an error.
func (c *client) webhook(ctx context.Context, payload []byte, secret string) error {
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret}).Header
	status, body, err := c.send(ctx, http.MethodPost, "/webhooks/stripe", payload,
		map[string]string{"Content-Type": "application/json", "Stripe-Signature": sig})
	if err == nil && status != http.StatusOK {
		err = &gqlError{Status: status, Message: tail(string(body), 200)}
	}
	return err
}

// fund credits u with cents through a Checkout deposit and its signed
// event.
func (c *client) fund(ctx context.Context, u user, cents int64, secret string) error {
	d, err := c.deposit(ctx, u, cents)
	if err != nil {
		return fmt.Errorf("deposit: %w", err)
	}
	if err := c.webhook(ctx, checkoutCompleted("evt_bench_fund_"+d.ID, d), secret); err != nil {
		return fmt.Errorf("deposit webhook: %w", err)
	}
	return nil
}

// forEach runs fn for 0..n-1 on workers goroutines, labelled as the
// load generator's; the first error stops the rest.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			asClient(ctx, func(ctx context.Context) {
				for ctx.Err() == nil {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					if err := fn(ctx, i); err != nil {
						cancel(fmt.Errorf("item %d: %w", i, err))
						return
					}
				}
			})
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// loopFor runs fn over and over on workers goroutines (worker w, its own
// recorder) until d has passed; an operation under way at the deadline
// finishes and counts. It returns the merged recorder and the time from
// start until the last worker stopped.
func loopFor(ctx context.Context, workers int, d time.Duration, fn func(ctx context.Context, w int, rec *recorder)) (*recorder, time.Duration) {
	recs := make([]*recorder, workers)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		recs[w] = newRecorder()
		wg.Go(func() {
			asClient(ctx, func(ctx context.Context) {
				for ctx.Err() == nil && time.Now().Before(deadline) {
					fn(ctx, w, recs[w])
				}
			})
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := newRecorder()
	for _, r := range recs {
		all.merge(r)
	}
	return all, elapsed
}

// asClient runs fn with the pprof label side=client, which the profiles
// drop to show the server alone.
func asClient(ctx context.Context, fn func(context.Context)) {
	pprof.Do(ctx, pprof.Labels("side", "client"), fn)
}
