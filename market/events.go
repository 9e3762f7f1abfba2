package market

import (
	"context"

	"github.com/jobsphere/jobsphere/auth"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/realtime"
)

// userTopic is the realtime topic of everything one user may see (the
// same as package payments uses).
func userTopic(id pulid.ID) string { return "user:" + string(id) }

// AdminTopic carries every offer, job and dispute change and every
// release request, for admins' subscriptions (payments adds withdrawals
// and freezes).
const AdminTopic = "admins"

// The kinds of marketplace events.
const (
	kindOffer = "OFFER_STATUS_CHANGED"
	KindJob   = "JOB_STATUS_CHANGED"
	// KindDispute goes to a dispute's parties and admins as it changes.
	KindDispute = "DISPUTE_UPDATED"
	// KindReleaseRequested goes to admins when an escrow awaits their
	// approval of its release (the parties see it in completeJob's answer).
	KindReleaseRequested = "RELEASE_REQUESTED"
	// kindAutoReleaseReminder goes to a delivered job's customer, on the
	// jobStatusChanged feed, AutoReleaseReminderLead before its auto-release.
	kindAutoReleaseReminder = "AUTO_RELEASE_REMINDER"
)

// publishOffer tells both parties (and admins) the offer changed, and the
// customer that their wallet did.
func (s *Service) publishOffer(ctx context.Context, tx *ent.Tx, o *ent.Offer, walletKind string, txnID pulid.ID) error {
	for _, topic := range []string{userTopic(o.CustomerID), userTopic(o.ContractorID), AdminTopic} {
		ev := realtime.Event{Topic: topic, Kind: kindOffer, IDs: map[string]string{"offer": string(o.ID), "job": string(o.JobID)}}
		if err := s.broker.PublishTx(ctx, tx, ev); err != nil {
			return err
		}
	}
	return s.broker.PublishTx(ctx, tx, realtime.Event{Topic: userTopic(o.CustomerID), Kind: walletKind,
		IDs: map[string]string{"transaction": string(txnID)}})
}

// publishJobTx tells the job's parties (and admins) its status changed.
func (s *Service) publishJobTx(ctx context.Context, tx *ent.Tx, jobID, customer, contractor pulid.ID) error {
	topics := []string{AdminTopic, userTopic(customer)}
	if contractor != "" {
		topics = append(topics, userTopic(contractor))
	}
	for _, topic := range topics {
		ev := realtime.Event{Topic: topic, Kind: KindJob, IDs: map[string]string{"job": string(jobID)}}
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

// OfferFeed delivers the offers of the viewer (as customer or contractor)
// as they change — all offers for an admin; one offer's when offerID is
// set.
func (s *Service) OfferFeed(ctx context.Context, v auth.Viewer, offerID *pulid.ID) (<-chan *ent.Offer, error) {
	return realtime.Feed(ctx, s.broker, viewerTopic(v), func(ev realtime.Event) (*ent.Offer, bool) {
		id, ok := ev.About("offer", string(deref(offerID)), kindOffer)
		if !ok {
			return nil, false
		}
		o, err := s.client.Offer.Get(ctx, pulid.ID(id))
		return o, err == nil && v.Is(o.CustomerID, o.ContractorID)
	})
}

// JobFeed delivers the jobs the viewer is a party to as their status
// changes or work is delivered, and a customer's delivered job once more
// before its auto-release (the reminder) — all jobs for an admin; one
// job's when jobID is set.
func (s *Service) JobFeed(ctx context.Context, v auth.Viewer, jobID *pulid.ID) (<-chan *ent.Job, error) {
	return realtime.Feed(ctx, s.broker, viewerTopic(v), func(ev realtime.Event) (*ent.Job, bool) {
		id, ok := ev.About("job", string(deref(jobID)), KindJob, kindAutoReleaseReminder)
		if !ok {
			return nil, false
		}
		j, err := s.client.Job.Get(ctx, pulid.ID(id))
		// A RESYNC names the subscribed job whoever subscribed to it.
		return j, err == nil && v.Is(j.PostedByID, deref(j.ContractorID))
	})
}

func viewerTopic(v auth.Viewer) string {
	if v.IsAdmin() {
		return AdminTopic
	}
	return userTopic(v.UserID)
}
