package market

import (
	"slices"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/dispute"
	"github.com/jobsphere/jobsphere/ent/disputemessage"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/predicate"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Who may see and do what in the marketplace. Each rule is named once
// here; the service's methods, its lists and node(id) all use these.
// Jobs and reviews are a public listing, for every signed-in user.

// OffersVisibleTo: an offer is for its customer, its contractor and admins.
func OffersVisibleTo(v auth.Viewer) predicate.Offer {
	return auth.Scope(v, offer.Or(offer.CustomerID(v.UserID), offer.ContractorID(v.UserID)))
}

// ContractsVisibleTo: a contract's terms are for its parties and admins
// (a review shows the contract it is about to anyone, but not its money:
// EscrowOf).
func ContractsVisibleTo(v auth.Viewer) predicate.Contract {
	return auth.Scope(v, contract.Or(contract.CustomerID(v.UserID), contract.ContractorID(v.UserID)))
}

// EscrowsVisibleTo: the money held for a contract is for its parties and
// admins.
func EscrowsVisibleTo(v auth.Viewer) predicate.Escrow {
	return auth.Scope(v, escrow.HasContractWith(ContractsVisibleTo(v)))
}

// ApplicationsVisibleTo: an application is for the contractor who made
// it, the job's customer and admins.
func ApplicationsVisibleTo(v auth.Viewer) predicate.JobApplication {
	return auth.Scope(v, jobapplication.Or(jobapplication.ContractorID(v.UserID), jobapplication.HasJobWith(job.PostedByID(v.UserID))))
}

// DisputesVisibleTo: a dispute is for its contract's parties and admins.
func DisputesVisibleTo(v auth.Viewer) predicate.Dispute {
	return auth.Scope(v, dispute.HasContractWith(ContractsVisibleTo(v)))
}

// DisputeMessagesVisibleTo: a dispute's messages are for whoever sees the
// dispute.
func DisputeMessagesVisibleTo(v auth.Viewer) predicate.DisputeMessage {
	return auth.Scope(v, disputemessage.HasDisputeWith(DisputesVisibleTo(v)))
}

// isParty: one of users (a contract's customer and contractor), admins
// not included — a dispute is opened, argued and settled by its parties.
func isParty(v auth.Viewer, users ...pulid.ID) bool { return slices.Contains(users, v.UserID) }

func isPartyOfContract(v auth.Viewer, c *ent.Contract) bool {
	return isParty(v, c.CustomerID, c.ContractorID)
}

// mayManageJob: the job's customer, and admins, cancel it.
func mayManageJob(v auth.Viewer, j *ent.Job) bool { return v.Is(j.PostedByID) }

// isPartyOfJob: the job's customer and its assigned contractor move it
// under way.
func isPartyOfJob(v auth.Viewer, j *ent.Job) bool {
	return j.PostedByID == v.UserID || (j.ContractorID != nil && *j.ContractorID == v.UserID)
}

// isAssignedContractor: the job's contractor delivers its work.
func isAssignedContractor(v auth.Viewer, j *ent.Job) bool {
	return j.ContractorID != nil && *j.ContractorID == v.UserID
}

// maySeeDelivery: a delivery's note and attachments are for the job's
// parties and admins.
func maySeeDelivery(v auth.Viewer, j *ent.Job) bool { return v.Is(j.PostedByID, deref(j.ContractorID)) }
