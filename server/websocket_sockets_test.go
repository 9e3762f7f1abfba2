package server

import (
	"sync"
	"testing"
	"time"
)

// TestKeepAlivesGoOnPastStalledSockets: sockets whose keep-alive write
// blocks (their clients stopped reading) hold one sender each; every
// other socket is still sent its keep-alive meanwhile.
func TestKeepAlivesGoOnPastStalledSockets(t *testing.T) {
	const stalled, healthy = keepAliveSenders - 1, 500
	release := make(chan struct{})
	var sentHealthy sync.WaitGroup
	sentHealthy.Add(healthy)
	sockets := make([]int, 0, stalled+healthy)
	for i := range stalled + healthy {
		sockets = append(sockets, i)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sendKeepAlives(sockets, func(i int) {
			if i < stalled {
				<-release // a write that does not return until the test says so
				return
			}
			sentHealthy.Done()
		})
	}()
	all := make(chan struct{})
	go func() { sentHealthy.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(10 * time.Second): // a guard against hanging, not a measurement
		t.Fatal("the healthy sockets' keep-alives waited for the stalled ones")
	}
	close(release)
	<-done
}
