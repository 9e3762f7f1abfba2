// Package market owns the marketplace's state machines: jobs,
// applications, offers, contracts, escrow and reviews. Every state
// transition happens here, as a conditional update on the status it
// leaves (so of two racing callers exactly one wins), and every money
// movement it causes goes through package ledger in the same database
// transaction.
package market

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/realtime"
)

// Config is what the marketplace needs from the configuration.
type Config struct {
	Currency               jobsphere.Currency
	Rates                  ledger.Rates
	MinOffer, MaxOffer     int64
	OfferTTL               time.Duration
	RequireReleaseApproval bool
	// AutoReleaseDays after a delivery the job completes by itself.
	AutoReleaseDays int
	// DisputeResponseDays after a dispute opens without an answer from the
	// other party, it is settled for the opener.
	DisputeResponseDays int
}

// Service is the marketplace.
type Service struct {
	client   *ent.Client
	ledger   *ledger.Ledger
	broker   realtime.Broker
	cfg      Config
	now      func() time.Time
	refunder CardRefunder // refunds card-funded escrows through Stripe
}

// NewService returns the marketplace service. A refund of a card-funded
// escrow is a money path: without a refunder there is no marketplace.
func NewService(client *ent.Client, l *ledger.Ledger, b realtime.Broker, cfg Config, refunder CardRefunder) (*Service, error) {
	if refunder == nil {
		return nil, errors.New("market: no card refunder")
	}
	return &Service{client: client, ledger: l, broker: b, cfg: cfg, now: time.Now, refunder: refunder}, nil
}

// SetClock replaces the clock, for tests of expiry.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func requireRole(v auth.Viewer, roles ...role.Role) error {
	for _, r := range roles {
		if v.Role == r {
			return nil
		}
	}
	return auth.NotAuthorized()
}

func notFound(what string) error { return jobsphere.Errorf(jobsphere.NotFound, "%s not found", what) }

// conflict names the current status, as the state machines promise.
func conflict(what string, status fmt.Stringer) error {
	return jobsphere.Errorf(jobsphere.Conflict, "%s is %s", what, status)
}

func (s *Service) money(v int64) string { return s.cfg.Currency.Display(v) }

// auditAdmin records e, done by v, in the audit log when v is an admin
// (the same operation by a party of the job is theirs, not an admin's; the
// sweep that finishes an interrupted card refund acts as no one, and the
// refund is recorded as its claim's: see refundEscrow).
func (s *Service) auditAdmin(ctx context.Context, tx *ent.Tx, v auth.Viewer, e audit.Entry) error {
	admin := actingAdmin(v)
	if admin == nil {
		return nil
	}
	e.Actor = *admin
	return audit.Record(ctx, tx.Client(), e)
}

// actingAdmin is the admin v acts as, or nil when v is no admin or no one.
func actingAdmin(v auth.Viewer) *pulid.ID {
	if !v.IsAdmin() || v.UserID == "" {
		return nil
	}
	return &v.UserID
}

// tx runs fn in a database transaction.
func (s *Service) tx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	return s.client.WithTx(ctx, fn)
}
