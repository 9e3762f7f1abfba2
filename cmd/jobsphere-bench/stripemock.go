package main

import (
	"context"
	"time"

	"github.com/jobsphere/jobsphere/payments/stripe/stripemock"
)

// stripeMock starts stripe-mock (see package stripemock) once per run and
// returns its base URL.
func (b *bench) stripeMock(ctx context.Context) (string, error) {
	b.mu.Lock()
	if u := b.stripeURL; u != "" {
		b.mu.Unlock()
		return u, nil
	}
	b.mu.Unlock()
	m, err := stripemock.Start(ctx, stripemock.Options{Dir: b.repo, Timeout: 30 * time.Second, Configure: setDeathSignal})
	if err != nil {
		return "", err
	}
	b.defer_(m.Close)
	b.mu.Lock()
	b.stripeURL = m.URL
	b.mu.Unlock()
	return m.URL, nil
}
