package realtime_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/realtime"
)

func same(ev realtime.Event) (realtime.Event, bool) { return ev, true }

// TestFeedHoldsNoGoroutineWhileIdle: feeds waiting for events hold no
// goroutine; an event's goroutine ends once it has delivered; cancelling
// closes every channel and leaves nothing behind.
func TestFeedHoldsNoGoroutineWhileIdle(t *testing.T) {
	m := newMemory(t)
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	var feeds []<-chan realtime.Event
	for i := range 100 {
		ch, err := realtime.Feed(ctx, m, fmt.Sprintf("user:%d", i), same)
		if err != nil {
			t.Fatal(err)
		}
		feeds = append(feeds, ch)
	}
	settleGoroutines(t, base)
	for i, ch := range feeds {
		e := ev(fmt.Sprintf("user:%d", i), "K", i)
		publish(t, m, e)
		recvWant(t, ch, e)
	}
	settleGoroutines(t, base)
	cancel()
	for _, ch := range feeds {
		waitClosed(t, ch)
	}
	settleGoroutines(t, base)
	if n, live := m.TopicCount(), m.Subscriptions(); n != 0 || live != 0 {
		t.Fatalf("TopicCount() = %d, Subscriptions() = %d, want 0 and 0", n, live)
	}
}

// TestFeedConverts: convert's values come out in order; the events it
// drops do not.
func TestFeedConverts(t *testing.T) {
	m := newMemory(t)
	ch, err := realtime.Feed(t.Context(), m, "user:a", func(e realtime.Event) (string, bool) {
		return e.Kind + e.IDs["n"], e.Kind != "SKIP"
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, kind := range []string{"A", "SKIP", "B"} {
		publish(t, m, ev("user:a", kind, i))
	}
	for _, want := range []string{"A0", "B2"} {
		select {
		case got := <-ch:
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(guard):
			t.Fatalf("no value within %s", guard)
		}
	}
}

// TestFeedSlowConsumer: a feed whose consumer does not read holds a
// subscription's buffer (plus the value on its channel and the one it
// converted last) and drops the rest; once its consumer reads, it finds
// the events in order, a RESYNC wherever some are missing and after the
// last loss, with no later event to bring it; it is then caught up.
func TestFeedSlowConsumer(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		ta := topic("a")
		ch, err := realtime.Feed(t.Context(), b, ta, same)
		if err != nil {
			t.Fatal(err)
		}
		const n = 3 * realtime.SubscriptionBuffer
		for i := range n {
			publish(t, b, ev(ta, "K", i))
		}
		settle(t, b)
		kept := n - int(b.Dropped())
		if kept < realtime.SubscriptionBuffer || kept > realtime.SubscriptionBuffer+2 {
			t.Fatalf("%d events kept, want %d to %d", kept, realtime.SubscriptionBuffer, realtime.SubscriptionBuffer+2)
		}
		next, resync := 0, false
		for kept > 0 {
			got := recv(t, ch)
			if got.Kind == realtime.KindResync {
				resync = true
				continue
			}
			i, _ := strconv.Atoi(got.IDs["n"])
			if i < next || (i > next && !resync) {
				t.Fatalf("event %d after %d (RESYNC before it: %v)", i, next-1, resync)
			}
			next, resync, kept = i+1, false, kept-1
		}
		if next < n { // the last events were lost
			recvWant(t, ch, realtime.Event{Topic: ta, Kind: realtime.KindResync})
		}
		requireNothingMore(t, b, ta, ch)
	})
}

// TestFeedSignal: the first feed under a context with a Signal takes it,
// and calls Ready once a value waits on its channel and once the channel
// is closed; a second feed under the same context does not.
func TestFeedSignal(t *testing.T) {
	m := newMemory(t)
	ready := make(chan struct{}, 8)
	sig := &realtime.Signal{Ready: func() { ready <- struct{}{} }}
	ctx, cancel := context.WithCancel(realtime.WithSignal(context.Background(), sig))
	defer cancel()
	ch, err := realtime.Feed(ctx, m, "user:a", same)
	if err != nil {
		t.Fatal(err)
	}
	other, err := realtime.Feed(ctx, m, "user:a", same)
	if err != nil {
		t.Fatal(err)
	}
	if !sig.Claimed() {
		t.Fatal("the feed did not take the signal")
	}
	for i := range 3 {
		e := ev("user:a", "K", i)
		publish(t, m, e)
		waitReady(t, ready)
		select {
		case got := <-ch:
			if !equal(got, e) {
				t.Fatalf("got %+v, want %+v", got, e)
			}
		default:
			t.Fatal("Ready came before the value")
		}
		recvWant(t, other, e)
	}
	cancel()
	waitReady(t, ready)
	if _, open := <-ch; open {
		t.Fatal("Ready came before the channel closed")
	}
	waitClosed(t, other)
	select {
	case <-ready:
		t.Fatal("the second feed called Ready")
	default:
	}
}

func waitReady(t *testing.T, ready <-chan struct{}) {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(guard):
		t.Fatalf("no Ready within %s", guard)
	}
}
