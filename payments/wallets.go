package payments

import (
	"context"
	"strings"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/realtime"
)

// FreezeWallet is an admin's freeze of a user's wallet (reason ADMIN; the
// admin's reason is kept as its note): spends and withdrawals are refused
// until it is lifted. The owner's walletUpdated feed says FROZEN.
func (s *Service) FreezeWallet(ctx context.Context, v auth.Viewer, userID pulid.ID, reason string) (*ent.Wallet, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	note := strings.TrimSpace(reason)
	return s.setAdminFreeze(ctx, v, userID, &note)
}

// UnfreezeWallet lifts an admin's freeze; the owner's feed says UNFROZEN
// once nothing else keeps the wallet frozen. A freeze for CHARGEBACK is
// not an admin's to lift (CONFLICT, saying so): it lifts itself when
// nothing is owed.
func (s *Service) UnfreezeWallet(ctx context.Context, v auth.Viewer, userID pulid.ID) (*ent.Wallet, error) {
	return s.setAdminFreeze(ctx, v, userID, nil)
}

func (s *Service) setAdminFreeze(ctx context.Context, v auth.Viewer, userID pulid.ID, note *string) (*ent.Wallet, error) {
	if !v.IsAdmin() {
		return nil, auth.NotAuthorized()
	}
	err := s.client.WithTx(ctx, func(tx *ent.Tx) error {
		before, err := s.ledger.LockWallet(ctx, tx.Client(), userID)
		if ent.IsNotFound(err) {
			return jobsphere.Errorf(jobsphere.NotFound, "Wallet not found")
		}
		if err != nil {
			return err
		}
		frozen, err := s.ledger.SetAdminFreeze(ctx, tx.Client(), userID, note)
		if err != nil {
			return err
		}
		entry := audit.Entry{Actor: v.UserID, Action: audit.UnfreezeWallet, Target: userID,
			Before: freezeState(before.IsFrozen), After: freezeState(frozen)}
		if note != nil {
			entry.Action, entry.Reason = audit.FreezeWallet, *note
		}
		if err := audit.Record(ctx, tx.Client(), entry); err != nil || (note == nil && frozen) {
			return err
		}
		kind := freezeState(frozen)
		if err := s.broker.PublishTx(ctx, tx, realtime.Event{Topic: UserTopic(userID), Kind: kind}); err != nil {
			return err
		}
		return s.publishToAdmins(ctx, tx, kind, "user", userID)
	})
	if err != nil {
		return nil, err
	}
	return s.ledger.Wallet(ctx, userID)
}

// freezeState names a wallet's state in its owner's feed and the audit log.
func freezeState(frozen bool) string {
	if frozen {
		return "FROZEN"
	}
	return "UNFROZEN"
}

// checkReason is the rule for an admin's reason: required, and bounded.
func checkReason(reason string) error {
	limit := jobsphere.TextLimit{Field: "reason", Label: "Reason", Max: jobsphere.MaxReasonLength}
	if reason = strings.TrimSpace(reason); reason != "" {
		limit.Text = &reason
	}
	return jobsphere.CheckRequired(limit)
}
