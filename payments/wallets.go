package payments

import (
	"context"
	"strings"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/realtime"
)

// FreezeWallet is an admin's freeze of a user's wallet: spends and
// withdrawals are refused until it is lifted. The owner's walletUpdated
// feed says FROZEN.
func (s *Service) FreezeWallet(ctx context.Context, v auth.Viewer, userID pulid.ID, reason string) (*ent.Wallet, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	return s.setFrozen(ctx, v, userID, true, strings.TrimSpace(reason))
}

// UnfreezeWallet lifts a freeze; the owner's feed says UNFROZEN.
func (s *Service) UnfreezeWallet(ctx context.Context, v auth.Viewer, userID pulid.ID) (*ent.Wallet, error) {
	return s.setFrozen(ctx, v, userID, false, "")
}

func (s *Service) setFrozen(ctx context.Context, v auth.Viewer, userID pulid.ID, frozen bool, reason string) (*ent.Wallet, error) {
	if !v.IsAdmin() {
		return nil, auth.NotAuthorized()
	}
	kind := "UNFROZEN"
	if frozen {
		kind = "FROZEN"
	}
	err := s.client.WithTx(ctx, func(tx *ent.Tx) error {
		if err := s.ledger.SetFrozen(ctx, tx.Client(), userID, frozen, reason); err != nil {
			return err
		}
		return s.broker.PublishTx(ctx, tx, realtime.Event{Topic: UserTopic(userID), Kind: kind})
	})
	if err != nil {
		return nil, err
	}
	return s.ledger.Wallet(ctx, userID)
}

// checkReason is the rule for an admin's reason: required, and bounded.
func checkReason(reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "reason", Message: "Reason is required"})
	}
	return jobsphere.CheckLengths(jobsphere.TextLimit{Field: "reason", Label: "Reason", Text: &reason, Max: jobsphere.MaxReasonLength})
}
