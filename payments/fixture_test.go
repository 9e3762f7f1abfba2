package payments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/realtime"
)

// scriptedGateway is a Gateway whose answers the test writes: each method
// answers its next scripted error, and succeeds once none is left. Ids are
// made from the idempotency key, so a retry gets the same one.
type scriptedGateway struct {
	mu             sync.Mutex
	errs           map[string][]error  // per method, the next answers
	keys           map[string][]string // per method, the keys it was asked with
	requiresAction bool                // CreatePaymentIntent answers requires_action
}

func newScriptedGateway() *scriptedGateway {
	return &scriptedGateway{errs: map[string][]error{}, keys: map[string][]string{}}
}

// script queues answers of method.
func (g *scriptedGateway) script(method string, errs ...error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs[method] = append(g.errs[method], errs...)
}

func (g *scriptedGateway) asked(method string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.keys[method]
}

func (g *scriptedGateway) answer(method, key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keys[method] = append(g.keys[method], key)
	if len(g.errs[method]) == 0 {
		return nil
	}
	err := g.errs[method][0]
	g.errs[method] = g.errs[method][1:]
	return err
}

func (g *scriptedGateway) CreateCheckoutSession(_ context.Context, p CheckoutParams) (*CheckoutSession, error) {
	if err := g.answer("checkout", p.IdempotencyKey); err != nil {
		return nil, err
	}
	return &CheckoutSession{ID: "cs_" + p.IdempotencyKey, URL: "https://checkout.test/" + p.IdempotencyKey}, nil
}

func (g *scriptedGateway) CreatePaymentIntent(_ context.Context, p PaymentIntentParams) (*PaymentIntent, error) {
	if err := g.answer("intent", p.IdempotencyKey); err != nil {
		return nil, err
	}
	return &PaymentIntent{ID: "pi_" + p.IdempotencyKey, ClientSecret: "pi_secret", RequiresAction: g.requiresAction}, nil
}

func (g *scriptedGateway) Refund(_ context.Context, p RefundParams) (string, error) {
	return "re_" + p.IdempotencyKey, g.answer("refund", p.IdempotencyKey)
}

func (g *scriptedGateway) CreateConnectAccount(_ context.Context, p ConnectAccountParams) (string, error) {
	return "acct_" + p.UserID, g.answer("connect", p.IdempotencyKey)
}

func (g *scriptedGateway) CreateOnboardingLink(_ context.Context, p OnboardingLinkParams) (*OnboardingLink, error) {
	return &OnboardingLink{URL: "https://connect.test/" + p.AccountID, ExpiresAt: time.Now().Add(time.Minute)}, g.answer("link", p.IdempotencyKey)
}

func (g *scriptedGateway) CreateTransfer(_ context.Context, p TransferParams) (string, error) {
	if err := g.answer("transfer", p.IdempotencyKey); err != nil {
		return "", err
	}
	return "tr_" + p.IdempotencyKey, nil
}

func (g *scriptedGateway) CreateCustomer(_ context.Context, p CustomerParams) (string, error) {
	return "cus_" + p.UserID, g.answer("customer", p.IdempotencyKey)
}

func (g *scriptedGateway) CreateFinancialConnectionsSession(_ context.Context, key, _ string) (*FinancialConnectionsSession, error) {
	return &FinancialConnectionsSession{SessionID: "fcsess_" + key, ClientSecret: "fc_secret"}, g.answer("fc", key)
}

func (g *scriptedGateway) BalanceTransactions(context.Context, time.Time, string) ([]BalanceTransaction, error) {
	return nil, g.answer("balance-transactions", "")
}

func (g *scriptedGateway) Balance(context.Context, string) (*PlatformBalance, error) {
	return &PlatformBalance{}, g.answer("balance", "")
}

func (*scriptedGateway) Sandbox() bool { return false }

// Fees and limits of the tests, in minor units.
var testRates = ledger.Rates{CustomerBPS: 500, ContractorBPS: 2000}

const (
	minDeposit    int64 = 500
	minWithdrawal int64 = 1000
)

// fixture is the payments service over a fresh database, with the real
// ledger and marketplace and a scripted gateway.
type fixture struct {
	ctx    context.Context
	client *ent.Client
	ledger *ledger.Ledger
	market *market.Service
	gw     *scriptedGateway
	svc    *Service
	n      int // users made
}

func newFixture(t *testing.T, db dbtest.Database) *fixture {
	t.Helper()
	ctx := context.Background()
	client := dbtest.Open(t, db)
	l := ledger.New(client, jobsphere.USD, db == dbtest.Postgres)
	if err := l.EnsurePlatformAccounts(ctx); err != nil {
		t.Fatal(err)
	}
	broker := realtime.NewMemory()
	t.Cleanup(func() { broker.Close() })
	gw := newScriptedGateway()
	m, err := market.NewService(client, l, broker, market.Config{
		Currency: jobsphere.USD, Rates: testRates, MinOffer: 500, MaxOffer: 1_000_000, OfferTTL: time.Hour,
	}, NewCardRefunds(gw))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(client, l, gw, auth.NewRateLimiter(client), broker, m, Config{
		Currency: jobsphere.USD, Rates: testRates, MinDeposit: minDeposit,
		SuccessURL: "https://app.test/paid", CancelURL: "https://app.test/cancelled", ReturnURL: "https://app.test/3ds",
		PublicURL: "https://api.test", MinWithdrawal: minWithdrawal, MaxWithdrawal: 1_000_000,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ctx: ctx, client: client, ledger: l, market: m, gw: gw, svc: svc}
}

// user makes a user of role r with an empty wallet.
func (f *fixture) user(t *testing.T, r role.Role) auth.Viewer {
	t.Helper()
	f.n++
	var id pulid.ID
	err := f.client.WithTx(f.ctx, func(tx *ent.Tx) error {
		u, err := tx.User.Create().SetEmail(fmt.Sprintf("user%d@example.com", f.n)).SetPasswordHash("x").
			SetName(fmt.Sprintf("User %d", f.n)).SetRole(r).Save(f.ctx)
		if err != nil {
			return err
		}
		id = u.ID
		_, err = f.ledger.OpenWallet(f.ctx, tx.Client(), u.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return auth.Viewer{UserID: id, Role: r}
}

// deliver applies a verified event as the webhook endpoint does: in a
// transaction of its own.
func (f *fixture) deliver(ev Event) error {
	if ev.ID == "" {
		ev.ID = "evt_" + string(pulid.New("x"))
	}
	if ev.Created.IsZero() {
		ev.Created = time.Now()
	}
	return f.client.WithTx(f.ctx, func(tx *ent.Tx) error { return f.svc.HandleEvent(f.ctx, tx, ev) })
}

func (f *fixture) mustDeliver(t *testing.T, ev Event) {
	t.Helper()
	if err := f.deliver(ev); err != nil {
		t.Fatalf("deliver %s: %v", ev.Type, err)
	}
}

// verify fails the test unless the ledger balances and agrees with the
// wallets, jobs and escrows.
func (f *fixture) verify(t *testing.T) {
	t.Helper()
	r, err := f.ledger.Verify(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("ledger does not verify: %v", r.Problems)
	}
}

// wallet asserts a user's available balance and pending deposits.
func (f *fixture) wallet(t *testing.T, v auth.Viewer, balance, pending int64) {
	t.Helper()
	w, err := f.ledger.Wallet(f.ctx, v.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if w.Balance != balance || w.PendingDeposits != pending {
		t.Fatalf("wallet: balance %d, pending %d; want %d, %d", w.Balance, w.PendingDeposits, balance, pending)
	}
}

func (f *fixture) deposit(t *testing.T, id pulid.ID) *ent.Deposit {
	t.Helper()
	d, err := f.client.Deposit.Get(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func requireCode(t *testing.T, what string, err error, code jobsphere.Code, msg string) {
	t.Helper()
	var e *jobsphere.Error
	if !errors.As(err, &e) || e.Code != code || (msg != "" && e.Message != msg) {
		t.Fatalf("%s: %v, want %s %q", what, err, code, msg)
	}
}
