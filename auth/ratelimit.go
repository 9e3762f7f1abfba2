package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ratelimitbucket"
)

// Limit is how many requests a key may make in a window.
type Limit struct {
	Name   string // the operation, part of the key: "deposit"
	Max    int
	Window time.Duration
}

// The seeds' limits.
var (
	DepositLimit        = Limit{Name: "deposit", Max: 5, Window: time.Hour}
	WithdrawLimit       = Limit{Name: "withdraw", Max: 3, Window: time.Hour}
	ConnectAccountLimit = Limit{Name: "connect-account", Max: 2, Window: time.Hour}
	// LoginLimit slows password guessing on one account from one address:
	// failed sign-ins per email and client address, so a guesser stops
	// themself and not the owner signing in from elsewhere.
	LoginLimit = Limit{Name: "login", Max: 10, Window: 15 * time.Minute}
	// LoginCeiling is the failed sign-ins per email from all addresses
	// together: guessing spread over many addresses. Past it the owner is
	// stopped too, until the window ends; that is the price of stopping
	// the guessing.
	LoginCeiling = Limit{Name: "login-email", Max: 100, Window: 15 * time.Minute}
	// StatementExportLimit is a user's CSV statement exports: each is a
	// long read of the ledger.
	StatementExportLimit = Limit{Name: "statement-export", Max: 60, Window: time.Hour}
)

// RateLimiter counts requests in the database, in fixed windows, so a
// limit holds across every replica.
type RateLimiter struct {
	client *ent.Client
	now    func() time.Time
}

// NewRateLimiter returns a limiter on the database.
func NewRateLimiter(client *ent.Client) *RateLimiter {
	return &RateLimiter{client: client, now: time.Now}
}

// Allow counts one request of subject (a user id, an email, an IP) and
// refuses it with RATE_LIMITED once the window's allowance is used.
func (l *RateLimiter) Allow(ctx context.Context, lim Limit, subject string) error {
	return l.AllowIn(ctx, l.client, lim, subject)
}

// AllowIn is Allow inside the caller's transaction (client is its
// tx.Client()): the count commits with the request, so a request the
// transaction rolls back — a replay that finds its idempotency key taken,
// a refusal — does not use the allowance up.
func (l *RateLimiter) AllowIn(ctx context.Context, client *ent.Client, lim Limit, subject string) error {
	now := l.now()
	start := now.Truncate(lim.Window)
	key := lim.Name + ":" + subject
	// One statement, atomic on both databases: insert the window's bucket
	// or add one to it.
	err := client.RateLimitBucket.Create().
		SetKey(key).SetWindowStart(start).SetCount(1).
		OnConflictColumns(ratelimitbucket.FieldKey, ratelimitbucket.FieldWindowStart).
		AddCount(1).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	b, err := client.RateLimitBucket.Query().
		Where(ratelimitbucket.Key(key), ratelimitbucket.WindowStart(start)).Only(ctx)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if b.Count <= lim.Max {
		return nil
	}
	retry := start.Add(lim.Window).Sub(now)
	minutes := int((retry + time.Minute - 1) / time.Minute)
	return &jobsphere.Error{
		Code:    jobsphere.RateLimited,
		Message: fmt.Sprintf("Too many requests. Please try again in %d minutes.", minutes),
		Extra:   map[string]any{"retryAfterSeconds": int(retry.Seconds() + 0.999)},
	}
}

// Allow counts one request of subject against lim, refusing it with
// RATE_LIMITED once the window's allowance is used: for the routes outside
// GraphQL, whose services take no limiter of their own.
func (s *Service) Allow(ctx context.Context, lim Limit, subject string) error {
	return s.limiter.Allow(ctx, lim, subject)
}

// Forget takes back one request of subject counted by Allow in the
// current window: the request turned out not to be what the limit
// counts (a sign-in that succeeded). Counting first and taking back
// after, rather than counting after, keeps concurrent requests from
// slipping past the limit. Across a window's end it takes back nothing,
// or one request of the new window.
func (l *RateLimiter) Forget(ctx context.Context, lim Limit, subject string) error {
	err := l.client.RateLimitBucket.Update().
		Where(ratelimitbucket.Key(lim.Name+":"+subject), ratelimitbucket.WindowStart(l.now().Truncate(lim.Window)), ratelimitbucket.CountGT(0)).
		AddCount(-1).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("rate limit: forget: %w", err)
	}
	return nil
}
