package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// copiesPerEvent is how often each event is delivered: Stripe delivers
// at least once, and sometimes more.
const copiesPerEvent = 3

// webhookPaths are the webhook route and its aliases.
var webhookPaths = []string{"/webhooks/stripe", "/webhook", "/api/webhooks/stripe"}

// deliverer sends every event copiesPerEvent times, each copy after a
// random delay (so copies and events arrive shuffled), signed at the time
// of sending, to a random live process, and retries each copy until a
// process answers 2xx, as Stripe does.
type deliverer struct {
	cluster                      *cluster
	webhookSecret, connectSecret string
	maxDelay                     time.Duration
	client                       *http.Client
	sem                          chan struct{}

	rngMu sync.Mutex
	rng   *rand.Rand

	remaining atomic.Int64 // copies not yet delivered

	mu        sync.Mutex
	copies    int
	attempts  int
	byStatus  map[int]int
	netErrors int
	refused   []string // 4xx answers: a correctly signed event must never be refused
}

func newDeliverer(c *cluster, webhookSecret, connectSecret string, maxDelay time.Duration, seed uint64) *deliverer {
	return &deliverer{
		cluster: c, webhookSecret: webhookSecret, connectSecret: connectSecret, maxDelay: maxDelay,
		client: &http.Client{Timeout: 20 * time.Second}, sem: make(chan struct{}, 16),
		rng: rand.New(rand.NewPCG(seed, 11)), byStatus: map[int]int{},
	}
}

func (d *deliverer) intN(n int) int {
	d.rngMu.Lock()
	defer d.rngMu.Unlock()
	return d.rng.IntN(n)
}

func (d *deliverer) jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	d.rngMu.Lock()
	defer d.rngMu.Unlock()
	return time.Duration(d.rng.Int64N(int64(max)))
}

// enqueue schedules an event's deliveries; it never blocks.
func (d *deliverer) enqueue(ctx context.Context, ev *stripeEvent) {
	for range copiesPerEvent {
		d.remaining.Add(1)
		d.mu.Lock()
		d.copies++
		d.mu.Unlock()
		go d.deliver(ctx, ev, d.jitter(d.maxDelay))
	}
}

func (d *deliverer) deliver(ctx context.Context, ev *stripeEvent, wait time.Duration) {
	defer d.remaining.Add(-1)
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if d.attempt(ctx, ev) {
			return
		}
		wait = backoff + d.jitter(backoff)
		backoff = min(2*backoff, 3*time.Second)
	}
}

// attempt posts one signed copy to a random live process.
func (d *deliverer) attempt(ctx context.Context, ev *stripeEvent) bool {
	p := d.cluster.pick(d.intN)
	if p == nil {
		return false
	}
	secret := d.webhookSecret
	if ev.Connect {
		secret = d.connectSecret
	}
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: ev.Payload, Secret: secret, Timestamp: time.Now()}).Header
	d.sem <- struct{}{}
	defer func() { <-d.sem }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+webhookPaths[d.intN(len(webhookPaths))], bytes.NewReader(ev.Payload))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", sig)
	resp, err := d.client.Do(req)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts++
	if err != nil {
		d.netErrors++
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	d.byStatus[resp.StatusCode]++
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		d.refused = append(d.refused, fmt.Sprintf("%s %s: %d %s", ev.Type, ev.ID, resp.StatusCode, bytes.TrimSpace(body)))
	}
	return resp.StatusCode/100 == 2
}

// drain waits until every copy is delivered, or the timeout.
func (d *deliverer) drain(timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); d.remaining.Load() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
