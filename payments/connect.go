package payments

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/connectaccount"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/user"
)

// ConnectOnboarding is a contractor's Connect account and a link to
// onboard it.
type ConnectOnboarding struct {
	AccountID     string
	OnboardingURL string
	ExpiresAt     time.Time
}

// CreateConnectAccount makes the contractor's Stripe Connect Express
// account, once (again after a deauthorization: see reconnect), and
// returns its first onboarding link.
func (s *Service) CreateConnectAccount(ctx context.Context, v auth.Viewer) (*ConnectOnboarding, error) {
	if v.Role != role.Contractor {
		return nil, jobsphere.Errorf(jobsphere.Forbidden, "Only contractors can create Connect accounts")
	}
	a, err := s.client.ConnectAccount.Query().Where(connectaccount.UserID(v.UserID)).Only(ctx)
	switch {
	case err == nil && a.Status == connectaccount.StatusDISCONNECTED:
		return s.reconnect(ctx, a)
	case err == nil:
		return nil, errConnectAccountExists()
	case !ent.IsNotFound(err):
		return nil, err
	}
	accountID, err := s.newConnectAccount(ctx, v.UserID, "connect:"+string(v.UserID))
	if err != nil {
		return nil, err
	}
	err = s.client.ConnectAccount.Create().SetUserID(v.UserID).SetStripeAccountID(accountID).Exec(ctx)
	if ent.IsConstraintError(err) {
		return nil, errConnectAccountExists()
	}
	if err != nil {
		return nil, err
	}
	return s.onboardingLink(ctx, accountID)
}

func errConnectAccountExists() error {
	return jobsphere.Errorf(jobsphere.Conflict, "Stripe Connect account already exists")
}

// newConnectAccount asks Stripe for an Express account for userID, within
// the contractor's rate limit; key makes a retry get the same account.
func (s *Service) newConnectAccount(ctx context.Context, userID pulid.ID, key string) (string, error) {
	if err := s.limiter.Allow(ctx, auth.ConnectAccountLimit, string(userID)); err != nil {
		return "", err
	}
	u, err := s.client.User.Get(ctx, userID)
	if err != nil {
		return "", err
	}
	return s.gateway.CreateConnectAccount(ctx, ConnectAccountParams{IdempotencyKey: key, UserID: string(userID), Email: u.Email})
}

// reconnect gives a DISCONNECTED contractor a new Express account,
// onboarded from the start (PENDING): an account that deauthorized the
// platform cannot be taken back by it. The key names the account replaced,
// so a retry (or two at once) makes one new account; the old one's late
// events then find no account of ours.
func (s *Service) reconnect(ctx context.Context, a *ent.ConnectAccount) (*ConnectOnboarding, error) {
	accountID, err := s.newConnectAccount(ctx, a.UserID, "connect:"+string(a.UserID)+":after:"+a.StripeAccountID)
	if err != nil {
		return nil, err
	}
	err = s.client.WithTx(ctx, func(tx *ent.Tx) error {
		return moveConnectAccount(ctx, tx, a, connectaccount.StatusPENDING, func(u *ent.ConnectAccountUpdate) {
			u.SetStripeAccountID(accountID).SetChargesEnabled(false).SetPayoutsEnabled(false).SetDetailsSubmitted(false).
				ClearCurrentlyDue().ClearPendingVerification().ClearErrors().ClearDisabledReason().ClearStateAsOf().
				ClearPayoutFailure().ClearFailedPayoutID().ClearPayoutStateAsOf()
		})
	})
	if jobsphere.ErrorCode(err) == jobsphere.Conflict {
		return nil, errConnectAccountExists() // reconnected meanwhile
	}
	if err != nil {
		return nil, err
	}
	return s.onboardingLink(ctx, accountID)
}

// RefreshConnectOnboardingLink mints a new onboarding link: they are
// single-use and expire within minutes. A DISCONNECTED account's link is
// a new account's (reconnect).
func (s *Service) RefreshConnectOnboardingLink(ctx context.Context, v auth.Viewer) (*ConnectOnboarding, error) {
	a, err := s.client.ConnectAccount.Query().Where(connectaccount.UserID(v.UserID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, jobsphere.Errorf(jobsphere.NotFound, "Please complete Stripe Connect onboarding")
	}
	if err != nil {
		return nil, err
	}
	if a.Status == connectaccount.StatusDISCONNECTED {
		return s.reconnect(ctx, a)
	}
	return s.onboardingLink(ctx, a.StripeAccountID)
}

func (s *Service) onboardingLink(ctx context.Context, accountID string) (*ConnectOnboarding, error) {
	link, err := s.gateway.CreateOnboardingLink(ctx, OnboardingLinkParams{
		IdempotencyKey: "connect:" + accountID + ":link:" + string(pulid.New("lnk")),
		AccountID:      accountID,
		RefreshURL:     s.cfg.PublicURL + "/connect/refresh",
		ReturnURL:      s.cfg.PublicURL + "/connect/return",
	})
	if err != nil {
		return nil, err
	}
	return &ConnectOnboarding{AccountID: accountID, OnboardingURL: link.URL, ExpiresAt: link.ExpiresAt}, nil
}

// ConnectStatus is a contractor's Connect account as the API shows it.
type ConnectStatus struct {
	HasAccount                                         bool
	AccountID                                          *string
	Status                                             *string
	OnboardingComplete, ChargesEnabled, PayoutsEnabled bool
	CurrentlyDue, PendingVerification, Errors          []string
	PayoutFailure                                      *string // the last bank payout's failure, until one is paid
}

// ConnectAccountStatus reports the viewer's Connect account.
func (s *Service) ConnectAccountStatus(ctx context.Context, v auth.Viewer) (*ConnectStatus, error) {
	a, err := s.client.ConnectAccount.Query().Where(connectaccount.UserID(v.UserID)).Only(ctx)
	if ent.IsNotFound(err) {
		return &ConnectStatus{CurrentlyDue: []string{}, PendingVerification: []string{}, Errors: []string{}}, nil
	}
	if err != nil {
		return nil, err
	}
	status := string(a.Status)
	return &ConnectStatus{
		HasAccount: true, AccountID: &a.StripeAccountID, Status: &status,
		OnboardingComplete: a.Status == connectaccount.StatusVERIFIED,
		ChargesEnabled:     a.ChargesEnabled, PayoutsEnabled: a.PayoutsEnabled,
		CurrentlyDue: nonNil(a.CurrentlyDue), PendingVerification: nonNil(a.PendingVerification), Errors: nonNil(a.Errors),
		PayoutFailure: a.PayoutFailure,
	}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// onAccountUpdated keeps a connected account in step with Stripe: VERIFIED
// when charges and payouts are enabled with nothing due, REJECTED when
// Stripe disabled it for a rejection, PENDING otherwise. Applying the same
// event twice changes nothing.
func (s *Service) onAccountUpdated(ctx context.Context, tx *ent.Tx, ev Event) error {
	acct := ev.ConnectAccount
	a, err := s.lockConnectAccount(ctx, tx, ev, acct.ID)
	if a == nil || err != nil {
		return err
	}
	if a.Status == connectaccount.StatusDISCONNECTED {
		// The platform has no access to it any more, whatever a late
		// report says: only a new onboarding (a new account) ends it.
		s.logger.InfoContext(ctx, "account.updated of a disconnected account ignored", "account", acct.ID, "event", ev.ID)
		return nil
	}
	status := connectaccount.StatusPENDING
	switch {
	case strings.HasPrefix(acct.DisabledReason, "rejected"):
		status = connectaccount.StatusREJECTED
	case acct.ChargesEnabled && acct.PayoutsEnabled && len(acct.CurrentlyDue) == 0:
		status = connectaccount.StatusVERIFIED
	}
	if a.StateAsOf != nil && (ev.Created.Before(*a.StateAsOf) || (ev.Created.Equal(*a.StateAsOf) && statusRank[status] < statusRank[a.Status])) {
		// An older state, delivered late. Within one second (Stripe's
		// resolution) onboarding only moves forward.
		s.logger.InfoContext(ctx, "stale account.updated ignored", "account", acct.ID, "event", ev.ID)
		return nil
	}
	return moveConnectAccount(ctx, tx, a, status, func(u *ent.ConnectAccountUpdate) {
		u.SetStateAsOf(ev.Created).
			SetChargesEnabled(acct.ChargesEnabled).SetPayoutsEnabled(acct.PayoutsEnabled).
			SetDetailsSubmitted(acct.DetailsSubmitted).
			SetCurrentlyDue(nonNil(acct.CurrentlyDue)).SetPendingVerification(nonNil(acct.PendingVerification)).
			SetErrors(nonNil(acct.Errors))
		if acct.DisabledReason != "" {
			u.SetDisabledReason(acct.DisabledReason)
		} else {
			u.ClearDisabledReason()
		}
	})
}

// lockConnectAccount reads the account of a Stripe account id for an
// event, locked: touching the row first locks it, so two deliveries at
// once are applied one after the other, each seeing what the other wrote.
// An account that is not ours (or was replaced by a reconnect) is nil, nil.
func (s *Service) lockConnectAccount(ctx context.Context, tx *ent.Tx, ev Event, stripeAccountID string) (*ent.ConnectAccount, error) {
	n, err := tx.ConnectAccount.Update().Where(connectaccount.StripeAccountID(stripeAccountID)).SetUpdatedAt(time.Now()).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock connect account %s: %w", stripeAccountID, err)
	}
	if n == 0 {
		s.logger.WarnContext(ctx, "stripe event for an unknown connected account", "type", ev.Type, "event", ev.ID, "account", stripeAccountID)
		return nil, nil
	}
	a, err := tx.ConnectAccount.Query().Where(connectaccount.StripeAccountID(stripeAccountID)).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("read connect account %s: %w", stripeAccountID, err)
	}
	return a, nil
}

// onDeauthorized marks the account DISCONNECTED: its contractor removed
// the platform's access (account.application.deauthorized), whatever its
// status and whenever Stripe made the events around it.
func (s *Service) onDeauthorized(ctx context.Context, tx *ent.Tx, ev Event) error {
	a, err := s.lockConnectAccount(ctx, tx, ev, ev.Account)
	if a == nil || err != nil || a.Status == connectaccount.StatusDISCONNECTED {
		return err
	}
	return moveConnectAccount(ctx, tx, a, connectaccount.StatusDISCONNECTED, func(u *ent.ConnectAccountUpdate) {
		u.SetChargesEnabled(false).SetPayoutsEnabled(false)
	})
}

// onPayout records a connected account's bank payout failing
// (payout.failed) and clears it when a later one is paid (payout.paid).
// That is Stripe paying the contractor's Stripe balance out to their bank,
// after our transfer: no ledger money moves. Stripe delivers out of order:
// an event made before the payout state applied is ignored, and so is,
// within the same second, the paid of the payout whose failure is shown (a
// paid payout may still fail, never the reverse).
func (s *Service) onPayout(ctx context.Context, tx *ent.Tx, ev Event) error {
	a, err := s.lockConnectAccount(ctx, tx, ev, ev.Account)
	if a == nil || err != nil {
		return err
	}
	po, failed := ev.Payout, ev.Type == PayoutFailed
	paidOfTheFailed := !failed && a.FailedPayoutID != nil && *a.FailedPayoutID == po.ID
	if asOf := a.PayoutStateAsOf; asOf != nil && (ev.Created.Before(*asOf) || (ev.Created.Equal(*asOf) && paidOfTheFailed)) {
		s.logger.InfoContext(ctx, "stale payout event ignored", "type", ev.Type, "account", ev.Account, "event", ev.ID)
		return nil
	}
	u := tx.ConnectAccount.UpdateOne(a).SetPayoutStateAsOf(ev.Created)
	if failed {
		s.logger.WarnContext(ctx, "bank payout of a connected account failed", "account", ev.Account, "payout", po.ID,
			"amount", po.Amount, "arrival_date", po.ArrivalDate, "failure_code", po.FailureCode)
		u.SetPayoutFailure(payoutFailure(po)).SetFailedPayoutID(po.ID)
	} else {
		u.ClearPayoutFailure().ClearFailedPayoutID()
	}
	if err := u.Exec(ctx); err != nil {
		return fmt.Errorf("record payout %s of %s: %w", po.ID, ev.Account, err)
	}
	return nil
}

// payoutFailure is Stripe's failure code and message, as the contractor
// is shown it: "account_closed: The bank account has been closed".
func payoutFailure(po *EventPayout) string {
	var parts []string
	for _, p := range []string{po.FailureCode, po.FailureMessage} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "The payout failed"
	}
	return strings.Join(parts, ": ")
}

// connectMoves is a connected account's state machine as we keep it:
// Stripe decides the status, and any may follow any (requirements come
// due on a verified account, a rejection is lifted), the same one too
// (its requirements changed). Which of two reports is the newer is the
// state_as_of guard's to decide, before the move. Any may end
// DISCONNECTED (the contractor deauthorized the platform), which only a
// new onboarding leaves, for PENDING.
var connectMoves = jobsphere.Transitions[connectaccount.Status]{Name: "Connect account", Moves: map[connectaccount.Status][]connectaccount.Status{
	connectaccount.StatusPENDING:      anyConnectStatus,
	connectaccount.StatusVERIFIED:     anyConnectStatus,
	connectaccount.StatusREJECTED:     anyConnectStatus,
	connectaccount.StatusDISCONNECTED: {connectaccount.StatusPENDING},
}}

var anyConnectStatus = []connectaccount.Status{connectaccount.StatusPENDING, connectaccount.StatusVERIFIED,
	connectaccount.StatusREJECTED, connectaccount.StatusDISCONNECTED}

// moveConnectAccount moves a connected account from the status it was
// read in to another: every change of its status is this one conditional
// update, answering CONFLICT naming the status it is in when it moved.
func moveConnectAccount(ctx context.Context, tx *ent.Tx, a *ent.ConnectAccount, to connectaccount.Status, mutate func(*ent.ConnectAccountUpdate)) error {
	err := connectMoves.Move(to, func(from []connectaccount.Status) (int, error) {
		u := tx.ConnectAccount.Update().
			Where(connectaccount.ID(a.ID), connectaccount.StatusIn(from...), connectaccount.StatusEQ(a.Status)).SetStatus(to)
		mutate(u)
		return u.Save(ctx)
	}, func() (connectaccount.Status, error) {
		now, err := tx.ConnectAccount.Get(ctx, a.ID)
		if err != nil {
			return "", err
		}
		return now.Status, nil
	}, nil)
	if err != nil {
		return fmt.Errorf("move connect account %s to %s: %w", a.ID, to, err)
	}
	return nil
}

// statusRank orders a connected account's states as onboarding moves
// them: a tie between two events of one second goes to the later state.
var statusRank = map[connectaccount.Status]int{
	connectaccount.StatusPENDING: 0, connectaccount.StatusVERIFIED: 1, connectaccount.StatusREJECTED: 2,
}

// CreateFinancialConnectionsSession starts linking the viewer's US bank
// accounts (seed 003). The viewer's Stripe customer is made on first use
// and kept; its idempotency key is the user id, so two first uses at once
// make one customer.
func (s *Service) CreateFinancialConnectionsSession(ctx context.Context, v auth.Viewer) (*FinancialConnectionsSession, error) {
	u, err := s.client.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	customerID := ""
	if u.StripeCustomerID != nil {
		customerID = *u.StripeCustomerID
	} else {
		customerID, err = s.gateway.CreateCustomer(ctx, CustomerParams{
			IdempotencyKey: "customer:" + string(u.ID), UserID: string(u.ID), Email: u.Email, Name: u.Name,
		})
		if err != nil {
			return nil, err
		}
		if err := s.client.User.Update().Where(user.ID(u.ID), user.StripeCustomerIDIsNil()).
			SetStripeCustomerID(customerID).Exec(ctx); err != nil {
			return nil, err
		}
	}
	return s.gateway.CreateFinancialConnectionsSession(ctx, "fc:"+string(u.ID)+":"+string(pulid.New("fcs")), customerID)
}
