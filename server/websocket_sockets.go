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
// client must answer "pong" within pongTimeout or is disconnected.
const (
	keepAliveInterval = 15 * time.Second
	pongTimeout       = 2 * keepAliveInterval
)

// socketSet is the open websockets of one server: counted for the
// metrics, kept alive from one goroutine (which runs while any socket is
// open) rather than a timer each, and closed at shutdown.
type socketSet struct {
	open prometheus.Gauge

	mu       sync.Mutex
	sockets  map[*socket]struct{}
	draining bool // no socket is added any more
	pinging  bool // keepAlive runs
	wg       sync.WaitGroup
}

func newSocketSet(open prometheus.Gauge) *socketSet {
	return &socketSet{open: open, sockets: map[*socket]struct{}{}}
}

// add counts s among the open sockets, unless the server is shutting down.
func (set *socketSet) add(s *socket) bool {
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.draining {
		return false
	}
	set.sockets[s] = struct{}{}
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
	delete(set.sockets, s)
	set.open.Dec()
	set.wg.Done()
}

// keepAlive sends each open socket its keep-alive every keepAliveInterval,
// until none is left open.
func (set *socketSet) keepAlive() {
	ticker := time.NewTicker(keepAliveInterval)
	defer ticker.Stop()
	for now := range ticker.C {
		set.mu.Lock()
		if len(set.sockets) == 0 {
			set.pinging = false
			set.mu.Unlock()
			return
		}
		sockets := slices.Collect(maps.Keys(set.sockets))
		set.mu.Unlock()
		for _, s := range sockets {
			s.keepAlive(now)
		}
	}
}

// drain closes every open socket, each with a close frame, and refuses new
// ones; it returns once they are all closed, or when ctx ends.
func (set *socketSet) drain(ctx context.Context) error {
	set.mu.Lock()
	set.draining = true
	sockets := slices.Collect(maps.Keys(set.sockets))
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
