package main

import "context"

// Disputes and deliveries: a party disputes a held escrow, both argue and
// propose splits, the other accepts, the opener withdraws, an admin
// resolves; the contractor delivers, and the sweeps run ahead of the clock
// (runSweeps) settle the unanswered disputes and auto-release deliveries.

// disputeRec is what the clients know of a contract's open dispute.
type disputeRec struct {
	id       string
	opener   *user
	proposer *user // of the latest proposal, nil before one
}

func (a *actor) opSubmitWork(ctx context.Context) string {
	c := a.pickContract(func(c *contractRec) bool { return c.escrow == "FUNDED" && c.jobStatus == "IN_PROGRESS" })
	if c == nil {
		return skip
	}
	return outcome(a.as(ctx, c.contractor, `mutation($id: ID!) { submitWork(input: {jobId: $id, note: "Done, chaos or not."}) { id deliveredAt } }`,
		map[string]any{"id": c.jobID}, nil))
}

func (a *actor) opOpenDispute(ctx context.Context) string {
	c := a.pickContract(func(c *contractRec) bool {
		return c.dispute == nil && (c.escrow == "FUNDED" || c.escrow == "RELEASE_REQUESTED")
	})
	if c == nil {
		return skip
	}
	opener := c.customer
	if a.rng.IntN(2) == 0 {
		opener = c.contractor
	}
	var out struct{ OpenDispute struct{ ID string } }
	err := a.as(ctx, opener, `mutation($id: ID!) { openDispute(input: {contractId: $id, reason: QUALITY, description: "Not what we agreed."}) { id } }`,
		map[string]any{"id": c.id}, &out)
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	switch {
	case err == nil:
		c.escrow, c.dispute = "DISPUTED", &disputeRec{id: out.OpenDispute.ID, opener: opener}
	case errCode(err) == "CONFLICT":
		c.escrow = "MOVED"
	}
	return outcome(err)
}

// disputed picks a contract with an open dispute the clients know of.
func (a *actor) disputed() *contractRec {
	return a.pickContract(func(c *contractRec) bool { return c.dispute != nil })
}

// party is the contract's customer or contractor, at random.
func (a *actor) party(c *contractRec) *user {
	if a.rng.IntN(2) == 0 {
		return c.customer
	}
	return c.contractor
}

// other is the party of c who is not u.
func other(c *contractRec, u *user) *user {
	if u == c.customer {
		return c.contractor
	}
	return c.customer
}

func (a *actor) opDisputeMessage(ctx context.Context) string {
	c := a.disputed()
	if c == nil {
		return skip
	}
	u := a.party(c)
	if a.rng.IntN(4) == 0 {
		u = a.admin()
	}
	err := a.as(ctx, u, `mutation($id: ID!) { addDisputeMessage(input: {disputeId: $id, body: "Here is what happened."}) { id } }`,
		map[string]any{"id": c.dispute.id}, nil)
	a.disputeEnded(c, err)
	return outcome(err)
}

func (a *actor) opProposeSettlement(ctx context.Context) string {
	c := a.disputed()
	if c == nil {
		return skip
	}
	u := a.party(c)
	// At most the smallest escrow there can be (MIN_OFFER, $10).
	err := a.as(ctx, u, `mutation($id: ID!, $x: Decimal!) { proposeSettlement(input: {disputeId: $id, contractorAmount: $x}) { id } }`,
		map[string]any{"id": c.dispute.id, "x": decimal(a.amount(0, 1000))}, nil)
	a.w.mu.Lock()
	if err == nil && c.dispute != nil {
		c.dispute.proposer = u
	}
	a.w.mu.Unlock()
	a.disputeEnded(c, err)
	return outcome(err)
}

func (a *actor) opAcceptSettlement(ctx context.Context) string {
	c := a.pickContract(func(c *contractRec) bool { return c.dispute != nil && c.dispute.proposer != nil })
	if c == nil {
		return skip
	}
	a.w.mu.Lock()
	u := other(c, c.dispute.proposer)
	a.w.mu.Unlock()
	var out struct {
		AcceptSettlement struct {
			Contract struct{ Escrow struct{ Status string } }
		}
	}
	err := a.as(ctx, u, `mutation($id: ID!) { acceptSettlement(disputeId: $id) { id status contract { escrow { status } } } }`,
		map[string]any{"id": c.dispute.id}, &out)
	a.settled(c, err, out.AcceptSettlement.Contract.Escrow.Status)
	return outcome(err)
}

func (a *actor) opWithdrawDispute(ctx context.Context) string {
	c := a.disputed()
	if c == nil {
		return skip
	}
	var out struct {
		WithdrawDispute struct {
			Contract struct{ Escrow struct{ Status string } }
		}
	}
	err := a.as(ctx, c.dispute.opener, `mutation($id: ID!) { withdrawDispute(disputeId: $id) { id status contract { escrow { status } } } }`,
		map[string]any{"id": c.dispute.id}, &out)
	a.settled(c, err, out.WithdrawDispute.Contract.Escrow.Status)
	return outcome(err)
}

func (a *actor) opResolveDispute(ctx context.Context) string {
	c := a.disputed()
	if c == nil {
		return skip
	}
	var out struct {
		ResolveDispute struct {
			Contract struct{ Escrow struct{ Status string } }
		}
	}
	err := a.as(ctx, a.admin(), `mutation($id: ID!, $x: Decimal!) { resolveDispute(input: {disputeId: $id, contractorAmount: $x, note: "Split by chaos."}) { id status contract { escrow { status } } } }`,
		map[string]any{"id": c.dispute.id, "x": decimal(a.amount(0, 1000))}, &out)
	a.settled(c, err, out.ResolveDispute.Contract.Escrow.Status)
	return outcome(err)
}

// settled records a dispute's end: the escrow's new status, or, refused,
// that the dispute moved on without these clients.
func (a *actor) settled(c *contractRec, err *callError, escrow string) {
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	switch {
	case err == nil:
		c.escrow, c.dispute = escrow, nil
	case errCode(err) == "CONFLICT":
		c.escrow, c.dispute = "MOVED", nil
	}
}

// disputeEnded forgets a dispute a message or proposal found settled or
// withdrawn (by another client, or the sweep).
func (a *actor) disputeEnded(c *contractRec, err *callError) {
	if errCode(err) == "CONFLICT" {
		a.settled(c, err, "")
	}
}
