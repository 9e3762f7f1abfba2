package main

import (
	"context"
	"fmt"
	"strings"
)

// operation is one kind of thing a client does, picked with its weight.
type operation struct {
	name   string
	weight int
	run    func(*actor, context.Context) string
}

var operations = []operation{
	// Accounts and deposits.
	{"register", 3, func(a *actor, ctx context.Context) string { return a.opRegister(ctx, "") }}, {"login", 1, (*actor).opLogin},
	{"deposit-checkout", 8, (*actor).opDepositCheckout}, {"deposit-intent", 6, (*actor).opDepositIntent}, {"3ds", 2, (*actor).opAuthenticate},
	// Jobs, offers, escrow.
	{"create-job", 7, (*actor).opCreateJob}, {"apply", 9, (*actor).opApply}, {"send-offer", 10, (*actor).opSendOffer},
	{"accept-offer", 7, answer("accept")}, {"reject-offer", 2, answer("reject")}, {"withdraw-offer", 2, answer("withdraw")},
	{"start-job", 5, (*actor).opStartJob}, {"complete-job", 6, (*actor).opCompleteJob}, {"approve-release", 5, (*actor).opApproveRelease},
	{"cancel-job", 2, (*actor).opCancelJob},
	{"pay-for-job", 5, (*actor).opPayForJob}, {"refund-escrow", 3, (*actor).opRefundEscrow}, {"rate", 2, (*actor).opRate},
	// Deliveries and disputes (disputes.go).
	{"submit-work", 3, (*actor).opSubmitWork}, {"open-dispute", 3, (*actor).opOpenDispute},
	{"dispute-message", 2, (*actor).opDisputeMessage}, {"propose-settlement", 3, (*actor).opProposeSettlement},
	{"accept-settlement", 3, (*actor).opAcceptSettlement}, {"withdraw-dispute", 1, (*actor).opWithdrawDispute},
	{"resolve-dispute", 2, (*actor).opResolveDispute},
	// Money that comes back at Stripe (chargebacks.go).
	{"chargeback", 2, (*actor).opChargeback}, {"close-chargeback", 2, (*actor).opCloseChargeback},
	{"dashboard-refund", 1, (*actor).opDashboardRefund},
	// Payouts.
	{"connect", 4, (*actor).opConnect}, {"withdraw", 6, (*actor).opWithdraw}, {"review-withdrawal", 4, (*actor).opReviewWithdrawal},
	{"reverse-transfer", 1, (*actor).opReverseTransfer}, {"financial-connections", 1, (*actor).opFinancialConnections},
	// What admins see: objects whose creator never heard back.
	{"admin-sync", 2, (*actor).opSync},
}

func answer(how string) func(*actor, context.Context) string {
	return func(a *actor, ctx context.Context) string { return a.opAnswerOffer(ctx, how) }
}

// choose picks, under the world's lock, a random element of a list of
// the world that fits (all when fits is nil), or the zero value.
func choose[T any](a *actor, list func(*world) []T, fits func(T) bool) T {
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	return pick(a.rng, list(a.w), fits)
}

func customers(w *world) []*user   { return w.customers }
func contractors(w *world) []*user { return w.contractors }
func jobs(w *world) []*jobRec      { return w.jobs }

func (a *actor) token(u *user) string {
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	return u.token
}

// as calls the API as u from the actor's address.
func (a *actor) as(ctx context.Context, u *user, query string, vars map[string]any, out any) *callError {
	err := a.call(ctx, a.token(u), a.ip, query, vars, out)
	if err != nil && (err.code == "INTERNAL" || err.code == "NO_CODE" || err.code == "DECODE" ||
		err.code == "GRAPHQL_VALIDATION_FAILED" || err.code == "GRAPHQL_PARSE_FAILED" || err.code == "UNAUTHENTICATED") {
		a.w.stats.unexpected(a.op, err)
	}
	return err
}

// amount is a random amount of minor units in [lo, hi].
func (a *actor) amount(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	c := lo + a.rng.Int64N(hi-lo+1)
	if a.rng.IntN(3) > 0 {
		c -= c % 100 // mostly whole units, sometimes cents
	}
	return max(c, lo)
}

const authFields = `user { id } tokens { accessToken }`

type authPayload struct {
	User   struct{ ID string }
	Tokens struct{ AccessToken string }
}

// login signs a user in from a fresh address.
func (a *actor) login(ctx context.Context, email string) (authPayload, *callError) {
	var out struct{ Login authPayload }
	err := a.call(ctx, "", a.w.freshIP(), `mutation($input: LoginInput!) { login(input: $input) { `+authFields+` } }`,
		map[string]any{"input": map[string]any{"email": email, "password": password}}, &out)
	return out.Login, err
}

// opRegister signs up a customer or contractor (role "" picks the one
// there are fewer of); a lost answer is followed by a sign-in.
func (a *actor) opRegister(ctx context.Context, role string) string {
	a.op = "register" // also when an operation found nobody to act as
	w := a.w
	w.mu.Lock()
	if role == "" {
		role = "CUSTOMER"
		if len(w.contractors) < len(w.customers) || (len(w.contractors) == len(w.customers) && a.rng.IntN(2) == 0) {
			role = "CONTRACTOR"
		}
	}
	w.seq++
	email := fmt.Sprintf("%s%d-%s@chaos.test", strings.ToLower(role), w.seq, w.tag)
	w.mu.Unlock()
	var out struct{ Register authPayload }
	err := a.call(ctx, "", w.freshIP(), `mutation($input: RegisterInput!) { register(input: $input) { `+authFields+` } }`,
		map[string]any{"input": map[string]any{"email": email, "password": password, "name": "Chaos " + strings.ToLower(role), "role": role}}, &out)
	p := out.Register
	if err != nil && err.code == "BAD_USER_INPUT" && strings.Contains(err.message, "already exists") {
		// An earlier attempt of ours made it before its process died.
		p, err = a.login(ctx, email)
	}
	if err != nil {
		return outcome(err)
	}
	u := &user{id: p.User.ID, email: email, role: role, token: p.Tokens.AccessToken}
	w.mu.Lock()
	w.users[u.id] = u
	if role == "CUSTOMER" {
		w.customers = append(w.customers, u)
	} else {
		w.contractors = append(w.contractors, u)
	}
	w.mu.Unlock()
	return "ok"
}

func (a *actor) opLogin(ctx context.Context) string {
	w := a.w
	u := choose(a, func(w *world) []*user { return append(append([]*user(nil), w.customers...), w.contractors...) }, nil)
	p, err := a.login(ctx, u.email)
	if err == nil {
		w.mu.Lock()
		u.token = p.Tokens.AccessToken
		w.mu.Unlock()
	}
	return outcome(err)
}

// customerForDeposit is a customer with deposits left this hour; none
// left means a new customer signs up.
func (a *actor) customerForDeposit() *user {
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	u := pick(a.rng, a.w.customers, func(u *user) bool { return u.deposits < 5 })
	if u != nil {
		u.deposits++
	}
	return u
}

const depositMutation = `mutation($input: DepositInput!) { deposit(input: $input) { deposit { id status } sessionId paymentIntentId requiresAction } }`

type depositPayload struct {
	Deposit struct {
		SessionID       *string
		PaymentIntentID *string
	}
}

func (a *actor) rateLimited(u *user, err *callError, deposits bool) {
	if errCode(err) != "RATE_LIMITED" {
		return
	}
	a.w.mu.Lock()
	if deposits {
		u.deposits = 5
	} else {
		u.withdraws = 3
	}
	a.w.mu.Unlock()
}

// opDepositCheckout deposits by Checkout; the payer mostly pays, sometimes
// walks away (the session expires now, or at the end of the run).
func (a *actor) opDepositCheckout(ctx context.Context) string {
	u := a.customerForDeposit()
	if u == nil {
		return a.opRegister(ctx, "CUSTOMER")
	}
	var out depositPayload
	err := a.as(ctx, u, depositMutation, map[string]any{"input": map[string]any{"amount": decimal(a.amount(2000, 60000))}}, &out)
	a.rateLimited(u, err, true)
	if err == nil && out.Deposit.SessionID != nil {
		switch n := a.rng.IntN(100); {
		case n < 85:
			a.w.stripe.PaySession(*out.Deposit.SessionID)
		case n < 90:
			a.w.stripe.ExpireSession(*out.Deposit.SessionID)
		}
	}
	return outcome(err)
}

// opDepositIntent deposits with a PaymentIntent confirmed at once: mostly
// a good card, sometimes 3-D Secure or a decline.
func (a *actor) opDepositIntent(ctx context.Context) string {
	u := a.customerForDeposit()
	if u == nil {
		return a.opRegister(ctx, "CUSTOMER")
	}
	pm := "pm_card_visa"
	switch n := a.rng.IntN(100); {
	case n < 15:
		pm = "pm_card_authenticationRequired"
	case n < 22:
		pm = "pm_card_chargeDeclined"
	case n < 25:
		pm = "pm_card_chargeDeclinedInsufficientFunds"
	}
	err := a.as(ctx, u, depositMutation, map[string]any{"input": map[string]any{
		"amount": decimal(a.amount(2000, 60000)), "paymentMethodId": pm}}, nil)
	a.rateLimited(u, err, true)
	return outcome(err)
}

// opAuthenticate finishes (mostly) or fails a waiting 3-D Secure.
func (a *actor) opAuthenticate(context.Context) string {
	ids := a.w.stripe.RequiresAction()
	if len(ids) == 0 {
		return skip
	}
	if !a.w.stripe.Authenticate(ids[a.rng.IntN(len(ids))], a.rng.IntN(100) < 80) {
		return "gone"
	}
	return "ok"
}

func (a *actor) opCreateJob(ctx context.Context) string {
	w := a.w
	u := choose(a, customers, nil)
	var out struct{ CreateJob struct{ ID, Status string } }
	err := a.as(ctx, u, `mutation($input: CreateJobInput!) { createJob(input: $input) { id status } }`,
		map[string]any{"input": map[string]any{
			"title": "Chaos job", "description": "Fix whatever the chaos broke, carefully.",
			"budget": decimal(a.amount(5000, 50000)), "category": "repairs", "location": "Remote",
		}}, &out)
	if err == nil {
		j := &jobRec{id: out.CreateJob.ID, customer: u, status: out.CreateJob.Status}
		w.mu.Lock()
		w.jobs = append(w.jobs, j)
		w.jobByID[j.id] = j
		w.mu.Unlock()
	}
	return outcome(err)
}

func (a *actor) opApply(ctx context.Context) string {
	w := a.w
	j := choose(a, jobs, func(j *jobRec) bool { return j.status == "OPEN" && len(j.apps) < 4 })
	u := choose(a, contractors, nil)
	if j == nil {
		return skip
	}
	var out struct{ ApplyToJob struct{ ID string } }
	err := a.as(ctx, u, `mutation($input: ApplyToJobInput!) { applyToJob(input: $input) { id status } }`,
		map[string]any{"input": map[string]any{"jobId": j.id, "coverLetter": "I can do it.", "proposedAmount": decimal(a.amount(1000, 30000))}}, &out)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		j.apps = append(j.apps, appRec{id: out.ApplyToJob.ID, contractor: u})
	case err.code == "CONFLICT" && strings.Contains(err.message, "not open"):
		j.status = "NOT_OPEN"
	}
	return outcome(err)
}

type walletPayload struct {
	Wallet struct{ Balance, EscrowBalance string }
}

func (a *actor) balance(ctx context.Context, u *user) (int64, *callError) {
	var out walletPayload
	err := a.as(ctx, u, `{ wallet { balance escrowBalance } }`, nil, &out)
	return cents(out.Wallet.Balance), err
}

// opSendOffer offers an applicant of an open job a price the customer's
// wallet can hold (amount + 5% platform fee).
func (a *actor) opSendOffer(ctx context.Context) string {
	w := a.w
	w.mu.Lock()
	j := pick(a.rng, w.jobs, func(j *jobRec) bool { return j.status == "OPEN" && len(j.apps) > 0 && !j.liveOffer })
	var app appRec
	if j != nil {
		app = j.apps[a.rng.IntN(len(j.apps))]
	}
	w.mu.Unlock()
	if j == nil {
		return skip
	}
	bal, err := a.balance(ctx, j.customer)
	if err != nil {
		return outcome(err)
	}
	most := min(bal*100/105, 40000)
	if most < 1000 {
		return skip
	}
	var out struct {
		SendOffer struct{ Offer struct{ ID, Status string } }
	}
	err = a.as(ctx, j.customer, `mutation($input: SendOfferInput!) { sendOffer(input: $input) { offer { id status totalCharge } } }`,
		map[string]any{"input": map[string]any{"applicationId": app.id, "amount": decimal(a.amount(1000, most)),
			"timeline": "5 days", "description": "An offer made in the middle of chaos."}}, &out)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		o := &offerRec{id: out.SendOffer.Offer.ID, job: j, customer: j.customer, contractor: app.contractor, status: "PENDING"}
		w.offers = append(w.offers, o)
		w.offerByID[o.id] = o
		j.liveOffer = true
	case err.code == "CONFLICT" && strings.Contains(err.message, "already exists"):
		j.liveOffer = true
	case err.code == "CONFLICT":
		j.status = "NOT_OPEN"
	}
	return outcome(err)
}

// opAnswerOffer accepts or rejects (the contractor) or withdraws (the
// customer) a pending offer.
func (a *actor) opAnswerOffer(ctx context.Context, how string) string {
	w := a.w
	o := choose(a, func(w *world) []*offerRec { return w.offers }, func(o *offerRec) bool { return o.status == "PENDING" })
	if o == nil {
		return skip
	}
	var out struct {
		AcceptOffer struct {
			Contract struct{ ID string }
		}
	}
	var err *callError
	vars := map[string]any{"id": o.id}
	switch how {
	case "accept":
		err = a.as(ctx, o.contractor, `mutation($id: ID!) { acceptOffer(offerId: $id) { offer { id status } contract { id status } } }`, vars, &out)
	case "reject":
		err = a.as(ctx, o.contractor, `mutation($id: ID!) { rejectOffer(offerId: $id, reason: "Not now") { offer { id status } } }`, vars, nil)
	default:
		err = a.as(ctx, o.customer, `mutation($id: ID!) { withdrawOffer(offerId: $id) { offer { id status } } }`, vars, nil)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil && how == "accept":
		o.status, o.job.status, o.job.liveOffer = "ACCEPTED", "ASSIGNED", false
		c := &contractRec{id: out.AcceptOffer.Contract.ID, jobID: o.job.id, customer: o.customer, contractor: o.contractor,
			escrow: "FUNDED", funding: "WALLET", jobStatus: "ASSIGNED"}
		w.addContract(c)
	case err == nil:
		o.status, o.job.liveOffer = strings.ToUpper(how)+"ED", false
	case err.code == "CONFLICT" || err.code == "NOT_FOUND":
		o.status = "MOVED"
	}
	return outcome(err)
}

// addContract records a contract (w.mu held).
func (w *world) addContract(c *contractRec) {
	if old := w.contractBy[c.id]; old != nil {
		old.escrow, old.jobStatus = c.escrow, c.jobStatus
		if old.escrow != "DISPUTED" {
			old.dispute = nil
		}
		return
	}
	w.contracts = append(w.contracts, c)
	w.contractBy[c.id] = c
}

func (a *actor) pickContract(fits func(*contractRec) bool) *contractRec {
	return choose(a, func(w *world) []*contractRec { return w.contracts }, fits)
}

func (a *actor) admin() *user {
	return choose(a, func(w *world) []*user { return w.admins }, nil)
}

func (a *actor) setContract(c *contractRec, err *callError, escrow, jobStatus string) {
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	switch {
	case err == nil:
		if escrow != "" {
			c.escrow = escrow
		}
		if jobStatus != "" {
			c.jobStatus = jobStatus
		}
	case err.code == "CONFLICT":
		c.escrow = "MOVED"
	}
}

func (a *actor) opStartJob(ctx context.Context) string {
	c := a.pickContract(func(c *contractRec) bool { return c.escrow == "FUNDED" && c.jobStatus == "ASSIGNED" })
	if c == nil {
		return skip
	}
	u := c.customer
	if a.rng.IntN(2) == 0 {
		u = c.contractor
	}
	err := a.as(ctx, u, `mutation($id: ID!) { updateJobStatus(id: $id, status: IN_PROGRESS) { id status } }`, map[string]any{"id": c.jobID}, nil)
	a.w.mu.Lock()
	if err == nil || errCode(err) == "CONFLICT" {
		c.jobStatus = "IN_PROGRESS"
	}
	a.w.mu.Unlock()
	return outcome(err)
}

// opCompleteJob asks for the escrow's release: completeJob on a job in
// progress, requestFundRelease by contract otherwise.
func (a *actor) opCompleteJob(ctx context.Context) string {
	c := a.pickContract(func(c *contractRec) bool { return c.escrow == "FUNDED" })
	if c == nil {
		return skip
	}
	var escrow string
	var err *callError
	if c.jobStatus == "IN_PROGRESS" {
		var out struct {
			CompleteJob struct{ Escrow struct{ Status string } }
		}
		err = a.as(ctx, c.customer, `mutation($id: ID!) { completeJob(jobId: $id) { escrow { status } awaitingApproval } }`, map[string]any{"id": c.jobID}, &out)
		escrow = out.CompleteJob.Escrow.Status
	} else {
		var out struct {
			RequestFundRelease struct{ Escrow struct{ Status string } }
		}
		err = a.as(ctx, c.customer, `mutation($id: ID!) { requestFundRelease(contractId: $id) { id status escrow { status } } }`, map[string]any{"id": c.id}, &out)
		escrow = out.RequestFundRelease.Escrow.Status
	}
	a.setContract(c, err, escrow, "")
	return outcome(err)
}

func (a *actor) opApproveRelease(ctx context.Context) string {
	c := a.pickContract(func(c *contractRec) bool { return c.escrow == "RELEASE_REQUESTED" })
	if c == nil {
		return skip
	}
	var out struct{ ApproveFundRelease struct{ Status string } }
	err := a.as(ctx, a.admin(), `mutation($id: ID!) { approveFundRelease(contractId: $id) { id status } }`, map[string]any{"id": c.id}, &out)
	a.setContract(c, err, out.ApproveFundRelease.Status, "")
	return outcome(err)
}

// opCancelJob cancels a job (its customer, sometimes an admin): a pending
// offer's hold, or the escrow and the platform fee, go back.
func (a *actor) opCancelJob(ctx context.Context) string {
	w := a.w
	j := choose(a, jobs, func(j *jobRec) bool { return j.status != "CANCELLED" })
	if j == nil {
		return skip
	}
	u := j.customer
	if a.rng.IntN(5) == 0 {
		u = a.admin()
	}
	err := a.as(ctx, u, `mutation($id: ID!) { cancelJob(jobId: $id, reason: "Changed my mind") { job { id status } refundAmount } }`, map[string]any{"id": j.id}, nil)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil || errCode(err) == "CONFLICT" {
		j.status, j.liveOffer = "CANCELLED", false
		for _, c := range w.contracts {
			if c.jobID == j.id && err == nil {
				c.escrow = "REFUNDED"
			}
		}
	}
	return outcome(err)
}

// opPayForJob hires an applicant (or anyone) by Checkout; the payer mostly
// pays.
func (a *actor) opPayForJob(ctx context.Context) string {
	w := a.w
	w.mu.Lock()
	j := pick(a.rng, w.jobs, func(j *jobRec) bool { return j.status == "OPEN" })
	var k *user
	if j != nil && len(j.apps) > 0 && a.rng.IntN(4) > 0 {
		k = j.apps[a.rng.IntN(len(j.apps))].contractor
	} else {
		k = pick(a.rng, w.contractors, nil)
	}
	w.mu.Unlock()
	if j == nil {
		return skip
	}
	var out struct{ PayForJob struct{ SessionID string } }
	err := a.as(ctx, j.customer, `mutation($input: PayForJobInput!) { payForJob(input: $input) { sessionId checkoutUrl } }`,
		map[string]any{"input": map[string]any{"jobId": j.id, "freelancerId": k.id, "title": "Chaos job payment",
			"rate": decimal(a.amount(1000, 30000))}}, &out)
	if err == nil && a.rng.IntN(10) > 0 {
		if a.w.stripe.PaySession(out.PayForJob.SessionID) {
			w.mu.Lock()
			j.status = "PAID"
			w.mu.Unlock()
		}
	}
	if errCode(err) == "CONFLICT" {
		w.mu.Lock()
		j.status = "NOT_OPEN"
		w.mu.Unlock()
	}
	return outcome(err)
}

// opRefundEscrow gives an escrow back (the customer, sometimes an admin):
// to the card or the wallet for a card-paid one.
func (a *actor) opRefundEscrow(ctx context.Context) string {
	c := a.pickContract(func(c *contractRec) bool { return c.escrow == "FUNDED" || c.escrow == "RELEASE_REQUESTED" })
	if c == nil {
		return skip
	}
	u := c.customer
	if a.rng.IntN(3) == 0 {
		u = a.admin()
	}
	in := map[string]any{"contractId": c.id, "cancelReason": "freelancer_unresponsive", "cancelReasonDescription": "Chaos"}
	switch {
	case c.funding == "CHECKOUT" && a.rng.IntN(10) < 6:
		in["refundTo"] = "CHECKOUT"
	case a.rng.IntN(2) == 0:
		in["refundTo"] = "WALLET"
	}
	var out struct{ RefundEscrow struct{ Status string } }
	err := a.as(ctx, u, `mutation($input: RefundEscrowInput!) { refundEscrow(input: $input) { id status } }`, map[string]any{"input": in}, &out)
	a.setContract(c, err, out.RefundEscrow.Status, "")
	return outcome(err)
}

func (a *actor) opRate(ctx context.Context) string {
	c := a.pickContract(func(c *contractRec) bool { return c.escrow == "RELEASED" && !c.rated })
	if c == nil {
		return skip
	}
	err := a.as(ctx, c.customer, `mutation($input: RateFreelancerInput!) { rateFreelancer(input: $input) { id } }`,
		map[string]any{"input": map[string]any{"contractId": c.id, "rating": 1 + a.rng.IntN(5), "description": "Survived the chaos."}}, nil)
	if err == nil || errCode(err) == "CONFLICT" {
		a.w.mu.Lock()
		c.rated = true
		a.w.mu.Unlock()
	}
	return outcome(err)
}

// opConnect onboards a contractor: the Connect account, then Stripe's
// verdict (mostly verified), which reaches the server as account.updated.
func (a *actor) opConnect(ctx context.Context) string {
	w := a.w
	w.mu.Lock()
	u := pick(a.rng, w.contractors, func(u *user) bool { return u.acctState == "" })
	if u != nil {
		u.acctState = "onboarding"
	}
	w.mu.Unlock()
	if u == nil {
		return skip
	}
	var out struct{ CreateConnectAccount struct{ AccountID string } }
	err := a.as(ctx, u, `mutation { createConnectAccount { accountId onboardingUrl expiresAt } }`, nil, &out)
	acct := out.CreateConnectAccount.AccountID
	if errCode(err) == "CONFLICT" { // made by a try whose answer was lost
		var st struct{ ConnectAccountStatus struct{ AccountID *string } }
		if err = a.as(ctx, u, `{ connectAccountStatus { hasAccount accountId status } }`, nil, &st); err == nil && st.ConnectAccountStatus.AccountID != nil {
			acct = *st.ConnectAccountStatus.AccountID
		}
	}
	if err == nil && a.rng.IntN(4) == 0 {
		err = a.as(ctx, u, `mutation { refreshConnectOnboardingLink { accountId onboardingUrl } }`, nil, nil)
	}
	state := ""
	if acct != "" {
		state = "verified"
		if a.rng.IntN(10) == 0 {
			state = "rejected"
		}
		w.stripe.SetAccountState(acct, state)
	}
	w.mu.Lock()
	u.acct, u.acctState = acct, state // "": try again later
	if state == "" && errCode(err) == "RATE_LIMITED" {
		u.acctState = "rate-limited"
	}
	w.mu.Unlock()
	return outcome(err)
}

// opWithdraw pays part of a verified contractor's balance out, with an
// idempotency key that every retry of the call repeats.
func (a *actor) opWithdraw(ctx context.Context) string {
	w := a.w
	w.mu.Lock()
	u := pick(a.rng, w.contractors, func(u *user) bool { return u.acctState == "verified" && u.withdraws < 3 })
	if u != nil {
		u.withdraws++
	}
	w.mu.Unlock()
	if u == nil {
		return skip
	}
	bal, err := a.balance(ctx, u)
	if err != nil {
		return outcome(err)
	}
	if bal < 1000 {
		w.mu.Lock()
		u.withdraws--
		w.mu.Unlock()
		return skip
	}
	amount := bal
	if a.rng.IntN(3) > 0 {
		amount = a.amount(1000, min(bal, 100000))
	}
	var out struct {
		Withdraw struct {
			Withdrawal struct {
				ID, Status       string
				StripeTransferID *string
			}
		}
	}
	key := fmt.Sprintf("chaos-%d-%d", a.id, a.rng.Int64())
	err = a.as(ctx, u, `mutation($a: Decimal!, $k: String) { withdraw(amount: $a, idempotencyKey: $k) { withdrawal { id status stripeTransferId amount } } }`,
		map[string]any{"a": decimal(amount), "k": key}, &out)
	a.rateLimited(u, err, false)
	if err == nil {
		wd := out.Withdraw.Withdrawal
		a.recordWithdrawal(wd.ID, wd.Status, wd.StripeTransferID)
	}
	return outcome(err)
}

func (a *actor) recordWithdrawal(id, status string, transfer *string) {
	w := a.w
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.wdByID[id]
	if r == nil {
		r = &wdRec{id: id}
		w.withdrawals = append(w.withdrawals, r)
		w.wdByID[id] = r
	}
	r.status = status
	if status == "COMPLETED" && transfer != nil && r.transfer == "" {
		r.transfer = *transfer
		w.payouts = append(w.payouts, *transfer)
	}
}

// opReviewWithdrawal is an admin approving (mostly) or rejecting a
// pending withdrawal.
func (a *actor) opReviewWithdrawal(ctx context.Context) string {
	r := choose(a, func(w *world) []*wdRec { return w.withdrawals }, func(r *wdRec) bool { return r.status == "PENDING" })
	if r == nil {
		return skip
	}
	var out struct {
		ApproveWithdrawal, RejectWithdrawal struct {
			Status           string
			StripeTransferID *string
		}
	}
	var err *callError
	if a.rng.IntN(5) > 0 {
		err = a.as(ctx, a.admin(), `mutation($id: ID!) { approveWithdrawal(id: $id) { id status stripeTransferId } }`, map[string]any{"id": r.id}, &out)
		if err == nil {
			a.recordWithdrawal(r.id, out.ApproveWithdrawal.Status, out.ApproveWithdrawal.StripeTransferID)
		}
	} else {
		err = a.as(ctx, a.admin(), `mutation($id: ID!) { rejectWithdrawal(id: $id, reason: "Chaos review") { id status } }`, map[string]any{"id": r.id}, &out)
		if err == nil {
			a.recordWithdrawal(r.id, out.RejectWithdrawal.Status, nil)
		}
	}
	if errCode(err) == "CONFLICT" {
		a.recordWithdrawal(r.id, "MOVED", nil)
	}
	return outcome(err)
}

// opReverseTransfer: Stripe reverses a paid-out withdrawal's transfer.
func (a *actor) opReverseTransfer(context.Context) string {
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	if len(a.w.payouts) == 0 || a.rng.IntN(3) > 0 {
		return skip
	}
	i := a.rng.IntN(len(a.w.payouts))
	id := a.w.payouts[i]
	a.w.payouts = append(a.w.payouts[:i], a.w.payouts[i+1:]...)
	if !a.w.stripe.ReverseTransfer(id) {
		return "gone"
	}
	return "ok"
}

func (a *actor) opFinancialConnections(ctx context.Context) string {
	u := choose(a, customers, nil)
	return outcome(a.as(ctx, u, `mutation { createFinancialConnectionsSession { sessionId clientSecret } }`, nil, nil))
}

// opSync is an admin looking at the queues: it finds what other clients
// made but never heard of (their answer was lost with a killed process).
func (a *actor) opSync(ctx context.Context) string {
	var out struct {
		Withdrawals struct {
			Edges []struct {
				Node struct{ ID, Status string }
			}
		}
		Offers struct {
			Edges []struct {
				Node struct {
					ID, Status           string
					Job                  struct{ ID string }
					Customer, Contractor struct{ ID string }
				}
			}
		}
		Contracts struct {
			Edges []struct {
				Node struct {
					ID                   string
					Job                  struct{ ID, Status string }
					Customer, Contractor struct{ ID string }
					Escrow               struct{ Status, FundingSource string }
				}
			}
		}
		Disputes struct {
			Edges []struct {
				Node struct {
					ID             string
					OpenedBy       struct{ ID string }
					Contract       struct{ ID string }
					LatestProposal *struct{ ProposedBy struct{ ID string } }
				}
			}
		}
	}
	err := a.as(ctx, a.admin(), `{
  withdrawals(first: 20, status: PENDING) { edges { node { id status } } }
  offers(first: 20, status: PENDING) { edges { node { id status job { id } customer { id } contractor { id } } } }
  contracts(first: 10) { edges { node { id job { id status } customer { id } contractor { id } escrow { status fundingSource } } } }
  disputes(status: OPEN, first: 10) { edges { node { id openedBy { id } contract { id } latestProposal { proposedBy { id } } } } }
}`, nil, &out)
	if err != nil {
		return outcome(err)
	}
	w := a.w
	for _, e := range out.Withdrawals.Edges {
		a.recordWithdrawal(e.Node.ID, e.Node.Status, nil)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range out.Offers.Edges {
		n := e.Node
		j, cu, co := w.jobByID[n.Job.ID], w.users[n.Customer.ID], w.users[n.Contractor.ID]
		if w.offerByID[n.ID] != nil || j == nil || cu == nil || co == nil {
			continue
		}
		o := &offerRec{id: n.ID, job: j, customer: cu, contractor: co, status: n.Status}
		w.offers = append(w.offers, o)
		w.offerByID[o.id] = o
	}
	for _, e := range out.Contracts.Edges {
		n := e.Node
		cu, co := w.users[n.Customer.ID], w.users[n.Contractor.ID]
		if cu == nil || co == nil {
			continue
		}
		w.addContract(&contractRec{id: n.ID, jobID: n.Job.ID, customer: cu, contractor: co,
			escrow: n.Escrow.Status, funding: n.Escrow.FundingSource, jobStatus: n.Job.Status})
		if j := w.jobByID[n.Job.ID]; j != nil {
			j.status = n.Job.Status
		}
	}
	for _, e := range out.Disputes.Edges {
		n := e.Node
		c, opener := w.contractBy[n.Contract.ID], w.users[n.OpenedBy.ID]
		if c == nil || opener == nil {
			continue
		}
		d := &disputeRec{id: n.ID, opener: opener}
		if n.LatestProposal != nil {
			d.proposer = w.users[n.LatestProposal.ProposedBy.ID]
		}
		c.escrow, c.dispute = "DISPUTED", d
	}
	return "ok"
}
