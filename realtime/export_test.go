package realtime

import "time"

// TopicCount returns how many topics have subscribers.
func (m *Memory) TopicCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.topics)
}

// TopicCount returns how many topics have local subscribers.
func (p *Postgres) TopicCount() int { return p.hub.TopicCount() }

// SetListenTimeout changes how long NewPostgres waits for its first LISTEN
// until the test ends; tests using it must not run in parallel.
func SetListenTimeout(d time.Duration) (restore func()) {
	old := listenTimeout
	listenTimeout = d
	return func() { listenTimeout = old }
}

// ListenerDSN exposes listenerDSN.
var ListenerDSN = listenerDSN
