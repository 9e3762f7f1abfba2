package market

import (
	"context"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/realtime"
)

// userTopic is the realtime topic of everything one user may see (the
// same as package payments uses).
func userTopic(id pulid.ID) string { return "user:" + string(id) }

// publishOffer tells both parties the offer changed, and the customer
// that their wallet did.
func (s *Service) publishOffer(ctx context.Context, tx *ent.Tx, o *ent.Offer, walletKind string, txnID pulid.ID) error {
	for _, u := range []pulid.ID{o.CustomerID, o.ContractorID} {
		ev := realtime.Event{Topic: userTopic(u), Kind: "OFFER_STATUS_CHANGED", IDs: map[string]string{"offer": string(o.ID), "job": string(o.JobID)}}
		if err := s.broker.PublishTx(ctx, tx, ev); err != nil {
			return err
		}
	}
	return s.broker.PublishTx(ctx, tx, realtime.Event{Topic: userTopic(o.CustomerID), Kind: walletKind,
		IDs: map[string]string{"transaction": string(txnID)}})
}

// publishJobTx tells the job's parties its status changed.
func (s *Service) publishJobTx(ctx context.Context, tx *ent.Tx, jobID, customer, contractor pulid.ID) error {
	for _, u := range []pulid.ID{customer, contractor} {
		if u == "" {
			continue
		}
		ev := realtime.Event{Topic: userTopic(u), Kind: "JOB_STATUS_CHANGED", IDs: map[string]string{"job": string(jobID)}}
		if err := s.broker.PublishTx(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// walletKinds maps a transaction type to the WalletEvent kind the payee
// and payer see.
var walletKinds = map[ledgertransaction.Type]string{
	ledgertransaction.TypeSERVICE_FEE:       "FEE_CHARGED",
	ledgertransaction.TypeCONTRACTOR_PAYOUT: "PAYOUT_RECEIVED",
	ledgertransaction.TypeREFUND:            "REFUNDED",
}

func (s *Service) publishWallets(ctx context.Context, tx *ent.Tx, typ ledgertransaction.Type, txnID pulid.ID, users ...pulid.ID) error {
	for _, u := range users {
		ev := realtime.Event{Topic: userTopic(u), Kind: walletKinds[typ], IDs: map[string]string{"transaction": string(txnID)}}
		if err := s.broker.PublishTx(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}
