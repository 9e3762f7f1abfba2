package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const walletSubscriptionDoc = `subscription { walletUpdated { kind wallet { balance pendingDeposits } deposit { id status } transaction { type amount } } }`

// subscribers are websocket clients, each subscribed to walletUpdated for
// its own user, recording when each first sees a deposit succeed.
type subscribers struct {
	base     time.Time
	received []atomic.Int64 // nanoseconds after base; 0: not yet
	failures atomic.Int64   // errors, or connections closed by the server
	closing  atomic.Bool

	mu    sync.Mutex
	conns []*websocket.Conn
}

var wsWriteBuffers = &sync.Pool{}

// dial connects user i's subscriber from localIP (nil: any) and returns
// once the subscription is live: the server answered a query sent after
// it on the same socket.
func (s *subscribers) dial(ctx context.Context, baseURL string, i int, token string, localIP net.IP) error {
	d := websocket.Dialer{
		Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 30 * time.Second,
		ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: wsWriteBuffers,
	}
	if localIP != nil {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: localIP}, Timeout: 30 * time.Second}
		d.NetDialContext = nd.DialContext
	}
	conn, _, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/graphql", nil)
	if err != nil {
		return err
	}
	send := func(msg string) error { return conn.WriteMessage(websocket.TextMessage, []byte(msg)) }
	sub, _ := json.Marshal(map[string]any{"query": walletSubscriptionDoc})
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	err = errors.Join(
		send(`{"type":"connection_init","payload":{"Authorization":"Bearer `+token+`"}}`),
		s.await(conn, "connection_ack", ""),
		send(`{"id":"1","type":"subscribe","payload":`+string(sub)+`}`),
		send(`{"id":"2","type":"subscribe","payload":{"query":"{ me { id } }"}}`),
		s.await(conn, "next", "2"),
	)
	if err != nil {
		conn.Close()
		return err
	}
	_ = conn.SetReadDeadline(time.Time{})
	s.mu.Lock()
	s.conns = append(s.conns, conn)
	s.mu.Unlock()
	go s.read(conn, i)
	return nil
}

type wsMessage struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// await reads until a message of type typ (and id, when given), answering
// pings.
func (s *subscribers) await(conn *websocket.Conn, typ, id string) error {
	for {
		var msg wsMessage
		if err := conn.ReadJSON(&msg); err != nil {
			return fmt.Errorf("waiting for %s: %w", typ, err)
		}
		switch {
		case msg.Type == typ && (id == "" || msg.ID == id):
			return nil
		case msg.Type == "ping":
			if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`)); err != nil {
				return err
			}
		case msg.Type == "connection_error" || msg.Type == "error":
			return fmt.Errorf("%s: %s", msg.Type, msg.Payload)
		}
	}
}

// read is subscriber i's reader until its connection closes.
func (s *subscribers) read(conn *websocket.Conn, i int) {
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if !s.closing.Load() {
				s.failures.Add(1)
			}
			return
		}
		var msg wsMessage
		if json.Unmarshal(data, &msg) != nil {
			s.failures.Add(1)
			continue
		}
		switch msg.Type {
		case "ping":
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
		case "next":
			if msg.ID == "1" && bytes.Contains(msg.Payload, []byte("DEPOSIT_SUCCEEDED")) {
				s.received[i].CompareAndSwap(0, int64(time.Since(s.base)))
			}
		case "error":
			s.failures.Add(1)
		case "complete":
			if msg.ID == "1" {
				s.failures.Add(1)
			}
		}
	}
}

// close says goodbye on every connection.
func (s *subscribers) close(ctx context.Context) {
	s.closing.Store(true)
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	_ = forEach(ctx, len(conns), 64, func(ctx context.Context, i int) error {
		c := conns[i]
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		return c.Close()
	})
}

// fanoutPhase: N subscribers on one server, then deposit webhooks for M
// of them; delivery latency and the server's memory per subscriber.
func (b *bench) fanoutPhase(ctx context.Context, rep *report) error {
	o := b.opts
	n, m := o.subscribers, o.fanoutEvents
	env, err := b.fanoutEnv(ctx)
	if err != nil {
		return err
	}
	rep.add("fanout", "realtime broker (-broker)", o.broker+": "+brokers[o.broker], "")
	t, err := b.startServer(ctx, "fanout-setup", env)
	if err != nil {
		return err
	}
	c := newClient(t.url, 64)
	defer func() { c.close() }()

	b.logf("fanout: signing up %d users", n)
	start := time.Now()
	users, err := c.registerMany(ctx, b.runID, "CUSTOMER", n, 32)
	if err != nil {
		return fmt.Errorf("sign-up: %w", err)
	}
	signup := time.Since(start)
	rep.add("fanout", "sign-ups (concurrent, 32 at a time, BCRYPT_COST=4)", fmt.Sprintf("%d in %s: %.0f/s", n, signup.Round(time.Millisecond), rate(n, signup)), "")

	// The deposits the webhooks will complete, for M users spread evenly.
	who := make([]int, m)
	deposits := make([]pendingDeposit, m)
	if err := forEach(ctx, m, 32, func(ctx context.Context, j int) error {
		who[j] = j * n / m
		return retry(ctx, func() (err error) {
			deposits[j], err = c.deposit(ctx, users[who[j]], 2000+int64(j%100))
			return err
		})
	}); err != nil {
		return fmt.Errorf("deposits: %w", err)
	}

	// A fresh process, so the baseline holds no garbage of the sign-ups.
	t.stop()
	c.close()
	if t, err = b.start(ctx, "fanout", env, true); err != nil {
		return err
	}
	inProcess := t.pid == os.Getpid()
	defer t.stop()
	c = newClient(t.url, 64)
	subs := &subscribers{base: time.Now(), received: make([]atomic.Int64, n)}
	defer subs.close(context.WithoutCancel(ctx))
	// Warm up: a subscriber comes and goes, a few queries.
	warm := &subscribers{base: time.Now(), received: make([]atomic.Int64, 1)}
	if err := warm.dial(ctx, t.url, 0, users[0].Token, nil); err != nil {
		return fmt.Errorf("warm-up subscriber: %w", err)
	}
	warm.close(ctx)
	for i := range min(n, 8) {
		if err := c.do(ctx, users[i].Token, "", `{ me { id } wallet { balance } }`, nil, nil); err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second)
	rssBefore, err := processRSS(t.pid)
	if err != nil {
		return err
	}
	metricsBefore, _ := c.metrics(ctx)

	sources := 1 + n/8000 // ~28k ephemeral ports per source address
	b.logf("fanout: connecting %d subscribers from %d source address(es)", n, sources)
	start = time.Now()
	if err := forEach(ctx, n, 64, func(ctx context.Context, i int) error {
		var ip net.IP
		if sources > 1 {
			ip = net.IPv4(127, 0, 0, byte(1+i%sources))
		}
		return subs.dial(ctx, t.url, i, users[i].Token, ip)
	}); err != nil {
		return fmt.Errorf("subscribers: %w", err)
	}
	connect := time.Since(start)
	time.Sleep(3 * time.Second) // idle
	rssAfter, err := processRSS(t.pid)
	if err != nil {
		return err
	}
	metricsAfter, _ := c.metrics(ctx)
	perSub := float64(rssAfter-rssBefore) / float64(n)
	heap, err := b.heapProfile("fanout")
	if err != nil {
		return err
	}

	b.logf("fanout: %d deposit webhooks at %s", m, rateText(o.fanoutRate))
	payloads := make([][]byte, m)
	for j := range m {
		payloads[j] = checkoutCompleted(fmt.Sprintf("evt_bench_%s_fan_%d", b.runID, j), deposits[j])
	}
	sent := make([]time.Duration, m)
	answered := make([]time.Duration, m)
	var webhookErrs atomic.Int64
	b.waitQuiet(ctx)
	stopCPU := b.cpuWindow()
	pace := time.Now()
	_ = forEach(ctx, m, 64, func(ctx context.Context, j int) error {
		if o.fanoutRate > 0 {
			time.Sleep(time.Until(pace.Add(time.Duration(float64(j) / o.fanoutRate * float64(time.Second)))))
		}
		sent[j] = time.Since(subs.base)
		if err := c.webhook(ctx, payloads[j], b.webhookSecret); err != nil {
			webhookErrs.Add(1)
		}
		answered[j] = time.Since(subs.base)
		return nil
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	// Wait for the stragglers.
	deadline := time.Now().Add(15 * time.Second)
	var latency, roundTrip, afterAnswer []time.Duration
	for {
		latency, roundTrip, afterAnswer = latency[:0], roundTrip[:0], afterAnswer[:0]
		for j, i := range who {
			if r := time.Duration(subs.received[i].Load()); r != 0 {
				latency = append(latency, r-sent[j])
				afterAnswer = append(afterAnswer, max(0, r-answered[j]))
			}
			roundTrip = append(roundTrip, answered[j]-sent[j])
		}
		if len(latency) == m || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpu := stopCPU()
	slices.Sort(latency)
	slices.Sort(roundTrip)
	slices.Sort(afterAnswer)

	rep.add("fanout", "subscribers connected and live (walletUpdated, one user each)", fmt.Sprintf("%d in %s: %.0f/s, from %d source address(es)", n, connect.Round(time.Millisecond), rate(n, connect), sources), "")
	rss := "server RSS"
	if inProcess {
		rss = "RSS of server and load generator (in-process for -profile)"
	}
	rep.add("fanout", rss+" before → with all subscribers idle", bytesIEC(rssBefore)+" → "+bytesIEC(rssAfter), "")
	rep.add("fanout", rss+" per idle subscriber", fmt.Sprintf("%.1f KiB", perSub/1024), goal("≤ 24 KiB", perSub <= 24*1024))
	if metricsBefore != nil && metricsAfter != nil {
		perSubKiB := func(name string) float64 { return (metricsAfter[name] - metricsBefore[name]) / float64(n) / 1024 }
		rep.add("fanout", "per subscriber: Go heap in use / goroutine stacks / goroutines", fmt.Sprintf("%.1f KiB / %.1f KiB / %.1f",
			perSubKiB("go_memstats_heap_inuse_bytes"), perSubKiB("go_memstats_stack_inuse_bytes"),
			(metricsAfter["go_goroutines"]-metricsBefore["go_goroutines"])/float64(n)), "")
	}
	rep.add("fanout", fmt.Sprintf("delivered (%d deposit webhooks, %d users, %s)", m, m, rateText(o.fanoutRate)), fmt.Sprintf("%d of %d", len(latency), m), goal("all", len(latency) == m))
	rep.add("fanout", "delivery latency webhook sent → subscriber received, p50 / p99", p50p99(latency), goal("p99 < 100 ms", len(latency) == m && percentile(latency, 0.99) < 100*time.Millisecond))
	if len(latency) > 0 {
		rep.add("fanout", "delivery latency max", ms(latency[len(latency)-1]), "")
	}
	rep.add("fanout", "webhook round trip (sent → 200), p50 / p99", p50p99(roundTrip), "")
	rep.add("fanout", "and after the webhook's 200 (commit → broker → subscriber; 0 when it came first), p50 / p99", p50p99(afterAnswer), "")
	if heap != "" {
		rep.section(heap)
	}
	rep.add("fanout", "CPU meanwhile (webhooks and deliveries); \"others\" are not this run's", cpu, "")
	rep.add("fanout", "webhook errors / subscriber errors or closes", fmt.Sprintf("%d / %d", webhookErrs.Load(), subs.failures.Load()), goal("0 / 0", webhookErrs.Load() == 0 && subs.failures.Load() == 0))
	return nil
}

// fanoutEnv is the fan-out server's environment for -broker: PostgreSQL
// with LISTEN/NOTIFY or with NATS, or SQLite with its in-process broker.
func (b *bench) fanoutEnv(ctx context.Context) (map[string]string, error) {
	if b.opts.broker == "memory" {
		return b.serverEnv(ctx, "", "fanout")
	}
	env, err := b.phaseEnv(ctx, "fanout")
	if err == nil && b.opts.broker == "nats" {
		env["NATS_URL"] = b.opts.natsURL
	}
	return env, err
}

func rateText(r float64) string {
	if r <= 0 {
		return "full speed (64 at a time)"
	}
	return fmt.Sprintf("%g/s", r)
}

// metrics reads the unlabelled gauges of /metrics.
func (c *client) metrics(ctx context.Context) (map[string]float64, error) {
	_, raw, err := c.send(ctx, http.MethodGet, "/metrics", nil, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(raw)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, nil
}
