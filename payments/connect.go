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
// account, once, and returns its first onboarding link.
func (s *Service) CreateConnectAccount(ctx context.Context, v auth.Viewer) (*ConnectOnboarding, error) {
	if v.Role != role.Contractor {
		return nil, jobsphere.Errorf(jobsphere.Forbidden, "Only contractors can create Connect accounts")
	}
	if exists, err := s.client.ConnectAccount.Query().Where(connectaccount.UserID(v.UserID)).Exist(ctx); err != nil || exists {
		if err == nil {
			err = jobsphere.Errorf(jobsphere.Conflict, "Stripe Connect account already exists")
		}
		return nil, err
	}
	if err := s.limiter.Allow(ctx, auth.ConnectAccountLimit, string(v.UserID)); err != nil {
		return nil, err
	}
	u, err := s.client.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	accountID, err := s.gateway.CreateConnectAccount(ctx, ConnectAccountParams{
		IdempotencyKey: "connect:" + string(v.UserID), UserID: string(v.UserID), Email: u.Email,
	})
	if err != nil {
		return nil, err
	}
	err = s.client.ConnectAccount.Create().SetUserID(v.UserID).SetStripeAccountID(accountID).Exec(ctx)
	if ent.IsConstraintError(err) {
		return nil, jobsphere.Errorf(jobsphere.Conflict, "Stripe Connect account already exists")
	}
	if err != nil {
		return nil, err
	}
	return s.onboardingLink(ctx, accountID)
}

// RefreshConnectOnboardingLink mints a new onboarding link: they are
// single-use and expire within minutes.
func (s *Service) RefreshConnectOnboardingLink(ctx context.Context, v auth.Viewer) (*ConnectOnboarding, error) {
	a, err := s.client.ConnectAccount.Query().Where(connectaccount.UserID(v.UserID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, jobsphere.Errorf(jobsphere.NotFound, "Please complete Stripe Connect onboarding")
	}
	if err != nil {
		return nil, err
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
	// Touching the row first locks it: two deliveries at once are applied
	// one after the other, each seeing what the other wrote.
	n, err := tx.ConnectAccount.Update().Where(connectaccount.StripeAccountID(acct.ID)).SetUpdatedAt(time.Now()).Save(ctx)
	if err != nil {
		return fmt.Errorf("lock connect account %s: %w", acct.ID, err)
	}
	if n == 0 {
		s.logger.WarnContext(ctx, "account.updated for an unknown account", "account", acct.ID)
		return nil
	}
	a, err := tx.ConnectAccount.Query().Where(connectaccount.StripeAccountID(acct.ID)).Only(ctx)
	if err != nil {
		return fmt.Errorf("read connect account %s: %w", acct.ID, err)
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

// connectMoves is a connected account's state machine as we keep it:
// Stripe decides the status, and any may follow any (requirements come
// due on a verified account, a rejection is lifted), the same one too
// (its requirements changed). Which of two reports is the newer is the
// state_as_of guard's to decide, before the move.
var connectMoves = jobsphere.Transitions[connectaccount.Status]{Name: "Connect account", Moves: map[connectaccount.Status][]connectaccount.Status{
	connectaccount.StatusPENDING:  anyConnectStatus,
	connectaccount.StatusVERIFIED: anyConnectStatus,
	connectaccount.StatusREJECTED: anyConnectStatus,
}}

var anyConnectStatus = []connectaccount.Status{connectaccount.StatusPENDING, connectaccount.StatusVERIFIED, connectaccount.StatusREJECTED}

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
