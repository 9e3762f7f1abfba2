package server

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// keepAliveInterval is how often every open socket is sent its protocol's
// keep-alive: "ka" on graphql-ws, "ping" on graphql-transport-ws, whose
// client must answer "pong" within pongTimeout or is disconnected. The
// sockets are spread over keepAliveSlots turns of the interval, so that
// keep-alives and their answers come at an even pace rather than all at
// once.
const (
	keepAliveInterval = 15 * time.Second
	pongTimeout       = 2 * keepAliveInterval
	keepAliveSlots    = 15
	// keepAliveSenders bounds the keep-alives written at once. A socket
	// whose client stops reading holds its sender up to
	// keepAliveWriteTimeout (and is then closed); the other senders go on,
	// so a few such sockets cannot hold back everyone's keep-alive.
	keepAliveSenders = 32
)

// socketSet is the open websockets of one server: counted for the
// metrics, kept alive from one goroutine (which runs while any socket is
// open, and starts a few senders at each turn) rather than a timer each,
// and closed at shutdown.
type socketSet struct {
	open prometheus.Gauge

	mu       sync.Mutex
	slots    [keepAliveSlots]map[*socket]struct{} // the sockets, by their turn for keep-alives
	next     int                                  // the slot the next socket joins
	draining bool                                 // no socket is added any more
	pinging  bool                                 // keepAlive runs
	wg       sync.WaitGroup
}

func newSocketSet(open prometheus.Gauge) *socketSet {
	set := &socketSet{open: open}
	for i := range set.slots {
		set.slots[i] = map[*socket]struct{}{}
	}
	return set
}

// add counts s among the open sockets, unless the server is shutting down.
func (set *socketSet) add(s *socket) bool {
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.draining {
		return false
	}
	s.slot, set.next = set.next, (set.next+1)%keepAliveSlots
	set.slots[s.slot][s] = struct{}{}
	set.wg.Add(1)
	set.open.Inc()
	if !set.pinging {
		set.pinging = true
		go set.keepAlive()
	}
	return true
}

func (set *socketSet) remove(s *socket) {
	set.mu.Lock()
	defer set.mu.Unlock()
	delete(set.slots[s.slot], s)
	set.open.Dec()
	set.wg.Done()
}

// keepAlive sends the sockets of one slot their keep-alive at each turn,
// every slot once per keepAliveInterval, until no socket is left open.
func (set *socketSet) keepAlive() {
	ticker := time.NewTicker(keepAliveInterval / keepAliveSlots)
	defer ticker.Stop()
	for turn := 0; ; turn = (turn + 1) % keepAliveSlots {
		now := <-ticker.C
		set.mu.Lock()
		if set.count() == 0 {
			set.pinging = false
			set.mu.Unlock()
			return
		}
		sockets := slices.Collect(maps.Keys(set.slots[turn]))
		set.mu.Unlock()
		sendKeepAlives(sockets, func(s *socket) { s.keepAlive(now) })
	}
}

// sendKeepAlives calls send for each socket, keepAliveSenders at a time,
// and returns when all are sent.
func sendKeepAlives[S any](sockets []S, send func(S)) {
	next := make(chan S)
	var wg sync.WaitGroup
	for range min(keepAliveSenders, len(sockets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range next {
				send(s)
			}
		}()
	}
	for _, s := range sockets {
		next <- s
	}
	close(next)
	wg.Wait()
}

// count is how many sockets are open. Called with set.mu held.
func (set *socketSet) count() int {
	n := 0
	for _, slot := range set.slots {
		n += len(slot)
	}
	return n
}

// drain closes every open socket, each with a close frame, and refuses new
// ones; it returns once they are all closed, or when ctx ends.
func (set *socketSet) drain(ctx context.Context) error {
	set.mu.Lock()
	set.draining = true
	var sockets []*socket
	for _, slot := range set.slots {
		sockets = slices.AppendSeq(sockets, maps.Keys(slot))
	}
	set.mu.Unlock()
	for _, s := range sockets {
		s.close(closeNormal, "terminated")
	}
	done := make(chan struct{})
	go func() { set.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("shutdown: websocket connections still open")
	}
}
