package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
)

// visible reports whether the viewer may see the object node(id) found.
// Every type the schema exposes must be listed here; anything not listed
// is hidden, so a new type is private until someone decides otherwise.
// Ownership is checked with its own query: the node itself holds only
// the columns the operation selected.
func (r *Resolver) visible(ctx context.Context, v auth.Viewer, n ent.Noder) (bool, error) {
	if v.IsAdmin() {
		return true, nil
	}
	switch n := n.(type) {
	case *ent.User: // public profile; email is guarded by its own resolver
		return true, nil
	case *ent.Wallet:
		return r.Client.Wallet.Query().Where(wallet.ID(n.ID), wallet.UserID(v.UserID)).Exist(ctx)
	case *ent.Withdrawal:
		return r.Client.Withdrawal.Query().Where(withdrawal.ID(n.ID), withdrawal.UserID(v.UserID)).Exist(ctx)
	case *ent.Deposit:
		return r.Client.Deposit.Query().Where(deposit.ID(n.ID), deposit.UserID(v.UserID)).Exist(ctx)
	case *ent.Job, *ent.Review: // a marketplace listing; reviews are public
		return true, nil
	case *ent.JobApplication:
		return r.Client.JobApplication.Query().Where(jobapplication.ID(n.ID), jobapplication.Or(
			jobapplication.ContractorID(v.UserID), jobapplication.HasJobWith(job.PostedByID(v.UserID)))).Exist(ctx)
	case *ent.Offer:
		return r.Client.Offer.Query().Where(offer.ID(n.ID), offer.Or(
			offer.CustomerID(v.UserID), offer.ContractorID(v.UserID))).Exist(ctx)
	case *ent.Contract:
		return r.Client.Contract.Query().Where(contract.ID(n.ID), contract.Or(
			contract.CustomerID(v.UserID), contract.ContractorID(v.UserID))).Exist(ctx)
	case *ent.Escrow:
		return r.Client.Escrow.Query().Where(escrow.ID(n.ID), escrow.HasContractWith(contract.Or(
			contract.CustomerID(v.UserID), contract.ContractorID(v.UserID)))).Exist(ctx)
	case *ent.LedgerTransaction:
		return r.Client.LedgerTransaction.Query().Where(ledgertransaction.ID(n.ID), ledgertransaction.Or(
			ledgertransaction.FromUserID(v.UserID), ledgertransaction.ToUserID(v.UserID))).Exist(ctx)
	}
	return false, nil
}

// node loads an object by id for the signed-in viewer; an unknown id or
// an object the viewer may not see is null, alike, so ids can't be probed.
func (r *Resolver) node(ctx context.Context, id pulid.ID) (ent.Noder, error) {
	v, err := auth.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	n, err := r.Client.Noder(ctx, id, ent.WithNodeType(ent.IDToType))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ok, err := r.visible(ctx, v, n); !ok || err != nil {
		return nil, err
	}
	return n, nil
}

// nodes loads up to MaxNodeIDs objects as node does, in the order asked.
func (r *Resolver) nodes(ctx context.Context, ids []pulid.ID) ([]ent.Noder, error) {
	if len(ids) > MaxNodeIDs {
		msg := fmt.Sprintf("nodes takes at most %d ids", MaxNodeIDs)
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "ids", Message: msg})
	}
	nodes := make([]ent.Noder, len(ids))
	for i, id := range ids {
		n, err := r.node(ctx, id)
		if err != nil {
			return nil, err
		}
		nodes[i] = n
	}
	return nodes, nil
}

// mayReadEmail: a user's email is for themself and admins. "Themself" is
// the viewer, or the user an AuthPayload was just issued to (register and
// login answer before the request has a viewer).
func mayReadEmail(ctx context.Context, u *ent.User) bool {
	if v, err := auth.ViewerFrom(ctx); err == nil && (v.UserID == u.ID || v.IsAdmin()) {
		return true
	}
	// Only AuthPayload.user itself: the email field's parent is that user
	// field. Users nested deeper (a review's client) are other people.
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Parent != nil && fc.Parent.Object == "AuthPayload" && fc.Parent.Field.Name == "user"
}
