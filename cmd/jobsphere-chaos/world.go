package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// world is what the clients know: the users they made and the objects
// they saw, with the status they last saw. It is a hint, not the truth:
// another client, a webhook or a lost answer may have moved anything, and
// the server's answer to the next operation says so.
type world struct {
	cluster *cluster
	stripe  *fakeStripe
	tag     string
	total   int64
	started atomic.Int64
	stats   *stats

	mu          sync.Mutex
	seq         int
	admins      []*user
	customers   []*user
	contractors []*user
	users       map[string]*user
	jobs        []*jobRec
	jobByID     map[string]*jobRec
	offers      []*offerRec
	offerByID   map[string]*offerRec
	contracts   []*contractRec
	contractBy  map[string]*contractRec
	withdrawals []*wdRec
	wdByID      map[string]*wdRec
	payouts     []string // transfer ids of withdrawals seen COMPLETED
}

type user struct {
	id, email, role string
	token           string
	deposits        int    // deposits asked for (five an hour)
	withdraws       int    // withdrawals asked for (three an hour)
	acct, acctState string // Stripe account, and what the run made of it
}

type jobRec struct {
	id        string
	customer  *user
	status    string
	apps      []appRec
	liveOffer bool
}

type appRec struct {
	id         string
	contractor *user
}

type offerRec struct {
	id                   string
	job                  *jobRec
	customer, contractor *user
	status               string
}

type contractRec struct {
	id, jobID            string
	customer, contractor *user
	escrow, funding      string
	jobStatus            string
	rated                bool
	dispute              *disputeRec // its open dispute, nil when none is known
}

type wdRec struct {
	id, status, transfer string
}

const password = "ChaosPass123"

func newWorld(c *cluster, s *fakeStripe, tag string, total int) *world {
	return &world{
		cluster: c, stripe: s, tag: tag, total: int64(total), stats: newStats(),
		users: map[string]*user{}, jobByID: map[string]*jobRec{}, offerByID: map[string]*offerRec{},
		contractBy: map[string]*contractRec{}, wdByID: map[string]*wdRec{},
	}
}

// actor is one of the concurrent clients.
type actor struct {
	id    int
	w     *world
	rng   *rand.Rand
	ip    string
	http  *http.Client
	think time.Duration // mean pause between two operations
	op    string        // the operation under way
}

func newActor(w *world, id int, seed uint64, think time.Duration) *actor {
	return &actor{
		id: id, w: w, think: think, rng: rand.New(rand.NewPCG(seed, uint64(id)+100)), ip: fmt.Sprintf("10.77.%d.%d", id/250, id%250+1),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 10 * time.Second}},
	}
}

// freshIP is a new client address for a sign-up or sign-in, so the
// per-address limits (ten sign-ups an hour) see many people, as they
// would behind a real load balancer.
func (w *world) freshIP() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	return fmt.Sprintf("10.%d.%d.%d", 100+w.seq/62500, w.seq/250%250, w.seq%250+1)
}

// pick returns a random element that fits, or the zero value.
func pick[T any](rng *rand.Rand, list []T, fits func(T) bool) T {
	var cands []T
	for _, x := range list {
		if fits == nil || fits(x) {
			cands = append(cands, x)
		}
	}
	var zero T
	if len(cands) == 0 {
		return zero
	}
	return cands[rng.IntN(len(cands))]
}

// run performs operations until the run's total is reached.
func (a *actor) run(ctx context.Context) {
	for ctx.Err() == nil && a.w.started.Add(1) <= a.w.total {
		name, outcome := a.operate(ctx)
		a.w.stats.record(name, outcome)
		if a.think > 0 { // people pause between clicks
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(a.rng.Int64N(2 * int64(a.think)))):
			}
		}
	}
}

// operate picks an operation at random among those that can run now.
func (a *actor) operate(ctx context.Context) (string, string) {
	a.w.mu.Lock()
	bootstrap := len(a.w.customers) < 3 || len(a.w.contractors) < 3
	a.w.mu.Unlock()
	if bootstrap {
		outcome := a.opRegister(ctx, "")
		return a.op, outcome
	}
	total := 0
	for _, o := range operations {
		total += o.weight
	}
	for range 8 {
		n := a.rng.IntN(total)
		for _, o := range operations {
			if n -= o.weight; n < 0 {
				a.op = o.name
				if outcome := o.run(a, ctx); outcome != skip {
					return a.op, outcome
				}
				break
			}
		}
	}
	outcome := a.opRegister(ctx, "")
	return a.op, outcome
}

// skip: the operation had nothing to work on.
const skip = "skip"

// outcome names what an operation's last call ended in.
func outcome(err *callError) string {
	if err == nil {
		return "ok"
	}
	return err.code
}

// stats counts operations by name and outcome, and retried calls.
type stats struct {
	mu      sync.Mutex
	ops     map[string]map[string]int
	retries int
	msgs    map[string]int // INTERNAL and other unexpected messages
}

func newStats() *stats {
	return &stats{ops: map[string]map[string]int{}, msgs: map[string]int{}}
}

func (s *stats) record(name, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ops[name] == nil {
		s.ops[name] = map[string]int{}
	}
	s.ops[name][outcome]++
}

func (s *stats) retry() {
	s.mu.Lock()
	s.retries++
	s.mu.Unlock()
}

func (s *stats) unexpected(op string, err *callError) {
	s.mu.Lock()
	s.msgs[op+": "+err.Error()]++
	s.mu.Unlock()
}

// print writes the table of operations.
func (s *stats) print(w io.Writer) (done, unavailableOps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.ops))
	for n := range s.ops {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-22s %6s %6s  %s\n", "operation", "total", "ok", "other outcomes (server's error codes; UNAVAILABLE: no process answered)")
	for _, n := range names {
		var rest []string
		sum := 0
		for o, c := range s.ops[n] {
			sum += c
			if o != "ok" {
				rest = append(rest, fmt.Sprintf("%s %d", o, c))
			}
			if o == unavailable {
				unavailableOps += c
			}
		}
		sort.Strings(rest)
		done += sum
		fmt.Fprintf(w, "%-22s %6d %6d  %s\n", n, sum, s.ops[n]["ok"], strings.Join(rest, ", "))
	}
	fmt.Fprintf(w, "%d operations, %d calls retried on another process\n", done, s.retries)
	if len(s.msgs) > 0 {
		fmt.Fprintln(w, "unexpected errors:")
		for _, m := range topN(s.msgs, 12) {
			fmt.Fprintln(w, "  ", m)
		}
	}
	return done, unavailableOps
}

// topN lists the most frequent keys as "N× key".
func topN(m map[string]int, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var out []string
	for i, k := range keys {
		if i == n {
			out = append(out, fmt.Sprintf("… and %d more", len(keys)-n))
			break
		}
		out = append(out, fmt.Sprintf("%d× %s", m[k], k))
	}
	return out
}
