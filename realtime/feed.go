package realtime

import (
	"context"
	"sync"
	"sync/atomic"
)

// Feed subscribes to a topic and turns its events into values with
// convert (which may drop an event by returning false). The channel is
// closed, and everything released, when ctx ends.
//
// A feed holds no goroutine while it waits: an event starts one, which
// converts the events queued (convert may read the database) and puts the
// values on the channel, and ends once the queue is empty. Up to
// SubscriptionBuffer events wait in the queue, as in a subscription's
// channel; an event that does not fit is dropped, and a KindResync queued
// after those waiting (see Receiver). When ctx carries a Signal (see
// WithSignal), its Ready is called after every value put on the channel and
// once the channel is closed, on the feed's goroutine.
func Feed[T any](ctx context.Context, b Broker, topic string, convert func(Event) (T, bool)) (<-chan T, error) {
	f := &feed[T]{ctx: ctx, convert: convert, out: make(chan T, 1)}
	s, ok := ctx.Value(signalKey{}).(*Signal)
	if ok = ok && s.claimed.CompareAndSwap(false, true); ok {
		f.ready = s.Ready
	}
	if err := b.Receive(ctx, topic, f); err != nil {
		if ok { // nothing will call Ready: the consumer must see the error
			s.claimed.Store(false)
		}
		return nil, err
	}
	return f.out, nil
}

// feed is a Feed's Receiver.
type feed[T any] struct {
	ctx     context.Context
	convert func(Event) (T, bool)
	out     chan T
	ready   func() // nil: the consumer waits on out

	mu       sync.Mutex
	queue    []Event // nil when empty, so that an idle feed holds no buffer; a RESYNC may overflow it by one
	closed   bool
	draining bool // a goroutine runs drain
}

func (f *feed[T]) Offer(ev Event) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.queue)
	return offer(ev, n, n > 0 && f.queue[n-1].Kind == KindResync, func(e Event) {
		f.queue = append(f.queue, e)
		f.wake()
	})
}

func (f *feed[T]) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.wake()
}

// wake starts drain unless it runs already. Called with f.mu held.
func (f *feed[T]) wake() {
	if !f.draining {
		f.draining = true
		go f.drain()
	}
}

// drain converts and delivers the queued events, then closes the channel
// if the subscription has ended.
func (f *feed[T]) drain() {
	for {
		f.mu.Lock()
		if f.ctx.Err() != nil {
			f.queue = nil // nobody is left to take them
		}
		if len(f.queue) == 0 {
			f.draining = false
			closed := f.closed
			f.mu.Unlock()
			if closed {
				close(f.out)
				f.signal()
			}
			return
		}
		ev := f.queue[0]
		if f.queue = f.queue[1:]; len(f.queue) == 0 {
			f.queue = nil
		}
		f.mu.Unlock()

		v, ok := f.convert(ev)
		if !ok {
			continue
		}
		select {
		case f.out <- v:
			f.signal()
		case <-f.ctx.Done():
		}
	}
}

func (f *feed[T]) signal() {
	if f.ready != nil {
		f.ready()
	}
}

// Signal lets the consumer of a Feed's channel wait for it without a
// goroutine parked on the channel: Ready is called after each value put on
// it and once it is closed, each time for exactly one receive. The
// websocket transport passes one, in the context it runs a subscription
// with, to the resolver's Feed; the channel the resolver returns must be
// that Feed's.
type Signal struct {
	Ready   func()
	claimed atomic.Bool
}

// Claimed reports whether a Feed took the signal: without one, nothing
// calls Ready, and the consumer must wait on the channel.
func (s *Signal) Claimed() bool { return s.claimed.Load() }

type signalKey struct{}

// WithSignal returns ctx carrying s, for the first Feed subscribed under
// it.
func WithSignal(ctx context.Context, s *Signal) context.Context {
	return context.WithValue(ctx, signalKey{}, s)
}
