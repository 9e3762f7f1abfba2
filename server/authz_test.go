package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/graph"
	"github.com/jobsphere/jobsphere/graph/generated"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// The authorization matrix: every root field of the live schema, tried by
// every kind of viewer against a small world of objects. A field added to
// the schema without an entry in authzTable fails the test, and so does an
// entry for a field the schema no longer has.

// authzViewer is one kind of caller.
type authzViewer int

const (
	asAnon       authzViewer = iota // no token
	asOwner                         // customer A: posts the jobs, sends the offers, owns the deposit
	asCustomer                      // customer B: a stranger to A's objects
	asParty                         // contractor A: applied, got A's offer and contract, owns the withdrawal
	asContractor                    // contractor B: a stranger to A's objects
	asAdmin                         // an admin
)

var authzViewers = [...]authzViewer{asAnon, asOwner, asCustomer, asParty, asContractor, asAdmin}

func (v authzViewer) String() string {
	return [...]string{"anonymous", "customer owner", "customer non-owner", "contractor party", "contractor non-party", "admin"}[v]
}

// What a call may come to. Refusals are the error code itself.
const (
	azOK        = "ok"       // answered without an error
	azSeen      = "seen"     // answered, and the answer holds the fixture's object
	azHidden    = "hidden"   // answered without the fixture's object: null, or left out of a list
	azReceived  = "received" // subscription: accepted, and the event arrived
	azSilent    = "silent"   // subscription: accepted, and no event arrived
	azUnauth    = "UNAUTHENTICATED"
	azForbidden = "FORBIDDEN"
	azNotFound  = "NOT_FOUND"
	azConflict  = "CONFLICT"
)

// authzRow is the expected outcome for each viewer, in authzViewers order.
type authzRow [len(authzViewers)]string

// azRow lists outcomes in the order anonymous, customer owner, customer
// non-owner, contractor party, contractor non-party, admin.
func azRow(anon, owner, customer, party, contractor, admin string) authzRow {
	return authzRow{anon, owner, customer, party, contractor, admin}
}

// authzFixture is what one call needs.
type authzFixture struct {
	vars map[string]any
	// probe is looked for in the answer (seen / hidden) or in the
	// subscription's event; empty for plain ok.
	probe string
	// trigger causes the event a subscription waits for.
	trigger func(t *testing.T)
}

// authzProbe is one way the test exercises a field.
type authzProbe struct {
	name   string // what it probes, when a field has several probes
	doc    string
	upload bool // a GraphQL multipart request with one PNG as $f
	// fixture makes the objects a call needs. It runs again after every
	// call that succeeded, so each viewer meets the fixture unspent and a
	// refusal can only come from who the viewer is.
	fixture func(t *testing.T, w *authzWorld) authzFixture
	want    authzRow
}

func azNoFixture(*testing.T, *authzWorld) authzFixture { return authzFixture{} }

// azByID passes one of the world's ids as $id and looks for it in the answer.
func azByID(id func(w *authzWorld) string) func(*testing.T, *authzWorld) authzFixture {
	return func(_ *testing.T, w *authzWorld) authzFixture {
		return authzFixture{vars: map[string]any{"id": id(w)}, probe: id(w)}
	}
}

// azPassing passes one of the world's ids as $id, looking for nothing.
func azPassing(id func(w *authzWorld) string) func(*testing.T, *authzWorld) authzFixture {
	return func(_ *testing.T, w *authzWorld) authzFixture { return authzFixture{vars: map[string]any{"id": id(w)}} }
}

// azProbing looks for one of the world's values in the answer of a query
// without variables.
func azProbing(value func(w *authzWorld) string) func(*testing.T, *authzWorld) authzFixture {
	return func(_ *testing.T, w *authzWorld) authzFixture { return authzFixture{probe: value(w)} }
}

// azFresh passes a new object made by build as $id.
func azFresh(build func(w *authzWorld, t *testing.T) string) func(*testing.T, *authzWorld) authzFixture {
	return func(t *testing.T, w *authzWorld) authzFixture {
		return authzFixture{vars: map[string]any{"id": build(w, t)}}
	}
}

// azStatement asks for a statement of everything up to tomorrow, of the
// user named by user (nil: no userId), looking for customer A's deposit.
func azStatement(user func(w *authzWorld) string) func(*testing.T, *authzWorld) authzFixture {
	return func(_ *testing.T, w *authzWorld) authzFixture {
		vars := map[string]any{"from": "2000-01-01T00:00:00Z", "to": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}
		if user != nil {
			vars["u"] = user(w)
		}
		return authzFixture{vars: vars, probe: w.transaction}
	}
}

const azNodeQuery = `query($id: ID!) { node(id: $id) { id } }`

func azNodeProbe(name string, id func(w *authzWorld) string, want authzRow) authzProbe {
	return authzProbe{name: name, doc: azNodeQuery, fixture: azByID(id), want: want}
}

// Rows shared by many fields.
var (
	azSignedIn       = azRow(azUnauth, azOK, azOK, azOK, azOK, azOK)
	azAnyone         = azRow(azOK, azOK, azOK, azOK, azOK, azOK)
	azAdminOnly      = azRow(azUnauth, azForbidden, azForbidden, azForbidden, azForbidden, azOK)
	azOwnerOnly      = azRow(azUnauth, azOK, azForbidden, azForbidden, azForbidden, azForbidden)
	azOwnerOrAdmin   = azRow(azUnauth, azOK, azForbidden, azForbidden, azForbidden, azOK)
	azPartyOnly      = azRow(azUnauth, azForbidden, azForbidden, azOK, azForbidden, azForbidden)
	azContractors    = azRow(azUnauth, azForbidden, azForbidden, azOK, azOK, azForbidden)
	azCustomers      = azRow(azUnauth, azOK, azOK, azForbidden, azForbidden, azForbidden)
	azOwnerSeen      = azRow(azUnauth, azSeen, azHidden, azHidden, azHidden, azSeen)               // the owner's and admins'
	azPartiesSeen    = azRow(azUnauth, azSeen, azHidden, azSeen, azHidden, azSeen)                 // both parties' and admins'
	azWithdrawalSeen = azRow(azUnauth, azHidden, azHidden, azSeen, azHidden, azSeen)               // the contractor's and admins'
	azSignedInSeen   = azRow(azUnauth, azSeen, azSeen, azSeen, azSeen, azSeen)                     // every signed-in viewer's
	azOwnOnlySeen    = azRow(azUnauth, azSeen, azHidden, azHidden, azHidden, azHidden)             // the owner's alone: admins too see their own
	azOwnAccountSeen = azRow(azUnauth, azHidden, azHidden, azSeen, azHidden, azHidden)             // contractor A's Connect account, shown to A alone
	azAdminSeen      = azRow(azUnauth, azHidden, azHidden, azHidden, azHidden, azSeen)             // admins' records: hidden from everyone else
	azAdminListSeen  = azRow(azUnauth, azForbidden, azForbidden, azForbidden, azForbidden, azSeen) // an admins-only list that holds the object
	azPartiesEvents  = azRow(azUnauth, azReceived, azSilent, azReceived, azSilent, azReceived)
	azOwnerEvents    = azRow(azUnauth, azReceived, azSilent, azSilent, azSilent, azSilent)
	azPartiesOrAdmin = azRow(azUnauth, azOK, azForbidden, azOK, azForbidden, azOK)
	azAdminEvents    = azRow(azUnauth, azForbidden, azForbidden, azForbidden, azForbidden, azReceived)
)

// authzTable says, for every root field, who may call it and how the test
// exercises it. "Not yours" reads answer null or leave the object out
// (hidden), as docs/api.md (Errors) says; mutations refuse with FORBIDDEN once the
// viewer is signed in, UNAUTHENTICATED before.
var authzTable = map[string][]authzProbe{
	// Accounts: the credentials are the authorization.
	"Mutation.register": {{doc: `mutation($in: RegisterInput!) { register(input: $in) { user { id } } }`,
		fixture: func(*testing.T, *authzWorld) authzFixture {
			return authzFixture{vars: map[string]any{"in": map[string]any{
				"email": fmt.Sprintf("authz%d@example.test", authzSeq.Add(1)), "password": servertest.TestPassword,
				"name": "Matrix User", "role": "CUSTOMER",
			}}}
		}, want: azAnyone}},
	"Mutation.login": {{doc: `mutation($in: LoginInput!) { login(input: $in) { user { id } } }`,
		fixture: func(_ *testing.T, w *authzWorld) authzFixture {
			u := w.users[asCustomer]
			return authzFixture{vars: map[string]any{"in": map[string]any{"email": u.Email, "password": u.Password}}}
		}, want: azAnyone}},
	"Mutation.refreshToken": {{doc: `mutation($t: String!) { refreshToken(refreshToken: $t) { user { id } } }`,
		fixture: azRefreshToken, want: azAnyone}},
	"Mutation.logout": {{doc: `mutation($t: String!) { logout(refreshToken: $t) }`,
		fixture: azRefreshToken, want: azAnyone}},
	"Query.me": {{doc: `{ me { id } }`, want: azSignedIn}},
	"Query.node": {
		azNodeProbe("user", func(w *authzWorld) string { return w.users[asOwner].ID }, azSignedInSeen),
		{name: "user email", doc: `query($id: ID!) { node(id: $id) { ... on User { email } } }`,
			fixture: func(_ *testing.T, w *authzWorld) authzFixture {
				return authzFixture{vars: map[string]any{"id": w.users[asOwner].ID}, probe: w.users[asOwner].Email}
			}, want: azOwnerSeen},
		azUserProbe("User.wallet", `wallet { id }`, func(w *authzWorld) string { return w.wallet }, asOwner, azOwnerSeen),
		azUserProbe("User.transactions", `transactions(first: 100, type: DEPOSIT) { edges { node { id } } }`, func(w *authzWorld) string { return w.transaction }, asOwner, azOwnerSeen),
		azUserProbe("User.deposits", `deposits(first: 100) { edges { node { id } } }`, func(w *authzWorld) string { return w.deposit }, asOwner, azOwnerSeen),
		azUserProbe("User.withdrawals", `withdrawals(first: 100) { edges { node { id user { id } } } }`, func(w *authzWorld) string { return w.withdrawal }, asParty, azWithdrawalSeen),
		azUserProbe("User.disputes", `disputes(first: 100) { edges { node { id } } }`, func(w *authzWorld) string { return w.dispute }, asOwner, azOwnerSeen),
		// The admin's note of a freeze is for admins, not the wallet's owner.
		{name: "Wallet.frozenNote", doc: `query($id: ID!) { node(id: $id) { ... on Wallet { frozenNote } } }`,
			fixture: func(t *testing.T, w *authzWorld) authzFixture {
				note := "Matrix freeze " + w.wallet
				w.freezeOwner(t, note)
				return authzFixture{vars: map[string]any{"id": w.wallet}, probe: note}
			}, want: azRow(azUnauth, azHidden, azHidden, azHidden, azHidden, azSeen)},
		azNodeProbe("wallet", func(w *authzWorld) string { return w.wallet }, azOwnerSeen),
		azNodeProbe("transaction", func(w *authzWorld) string { return w.transaction }, azOwnerSeen),
		azNodeProbe("deposit", func(w *authzWorld) string { return w.deposit }, azOwnerSeen),
		azNodeProbe("withdrawal", func(w *authzWorld) string { return w.withdrawal }, azWithdrawalSeen),
		azNodeProbe("job", func(w *authzWorld) string { return w.openJob }, azSignedInSeen),
		azNodeProbe("application", func(w *authzWorld) string { return w.application }, azPartiesSeen),
		azNodeProbe("offer", func(w *authzWorld) string { return w.offer }, azPartiesSeen),
		azNodeProbe("contract", func(w *authzWorld) string { return w.contract }, azPartiesSeen),
		azNodeProbe("escrow", func(w *authzWorld) string { return w.escrow }, azPartiesSeen),
		azNodeProbe("review", func(w *authzWorld) string { return w.review }, azSignedInSeen),
		azNodeProbe("dispute", func(w *authzWorld) string { return w.dispute }, azPartiesSeen),
		azNodeProbe("chargeback", func(w *authzWorld) string { return w.chargeback }, azAdminSeen),
		azNodeProbe("fraud warning", func(w *authzWorld) string { return w.fraudWarning }, azAdminSeen),
		// Unknown ids and other people's objects look alike.
		{name: "unknown id", doc: azNodeQuery, fixture: func(*testing.T, *authzWorld) authzFixture {
			return authzFixture{vars: map[string]any{"id": "ofr_01J0000000000000000000000Z"}}
		}, want: azSignedIn},
	},
	"Query.nodes": {{doc: `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
		fixture: func(_ *testing.T, w *authzWorld) authzFixture {
			return authzFixture{vars: map[string]any{"ids": []string{w.offer, w.deposit}}, probe: w.offer}
		}, want: azPartiesSeen}},

	// Wallet and ledger.
	"Query.wallet":        {{doc: `{ wallet { id } }`, fixture: azProbing(func(w *authzWorld) string { return w.wallet }), want: azOwnOnlySeen}},
	"Query.transactions":  {{doc: `{ transactions(first: 100, type: DEPOSIT) { edges { node { id } } } }`, fixture: azProbing(func(w *authzWorld) string { return w.transaction }), want: azOwnOnlySeen}},
	"Query.platformStats": {{doc: `{ platformStats { ledgerBalanced } }`, want: azAdminOnly}},
	// A statement is its user's; admins may ask for anyone's.
	"Query.statement": {
		{name: "own", doc: `query($from: Time!, $to: Time!) { statement(from: $from, to: $to) { lines { transaction { id } } } }`,
			fixture: azStatement(nil), want: azOwnOnlySeen},
		{name: "customer A's", doc: `query($u: ID, $from: Time!, $to: Time!) { statement(userId: $u, from: $from, to: $to) { lines { transaction { id } } } }`,
			fixture: azStatement(func(w *authzWorld) string { return w.users[asOwner].ID }),
			want:    azRow(azUnauth, azSeen, azForbidden, azForbidden, azForbidden, azSeen)},
	},
	// The audit log: admins'. The world's admin's own creation is in it.
	"Query.auditLog": {{doc: `query($id: ID!) { auditLog(targetId: $id, first: 5) { edges { node { targetId } } } }`,
		fixture: azByID(func(w *authzWorld) string { return w.users[asAdmin].ID }), want: azAdminListSeen}},
	"Query.frozenWallets": {{doc: `{ frozenWallets(first: 100) { edges { node { id } } } }`,
		fixture: func(t *testing.T, w *authzWorld) authzFixture {
			w.freezeOwner(t, "authorization matrix")
			return authzFixture{probe: w.wallet}
		}, want: azAdminListSeen}},
	"Query.users": {{doc: `query($s: String) { users(search: $s, first: 10) { edges { node { id } } } }`,
		fixture: func(_ *testing.T, w *authzWorld) authzFixture {
			return authzFixture{vars: map[string]any{"s": strings.ToUpper(w.users[asOwner].Email)}, probe: w.users[asOwner].ID}
		}, want: azAdminListSeen}},
	"Mutation.freezeWallet": {{doc: `mutation($u: ID!) { freezeWallet(userId: $u, reason: "authorization matrix") { isFrozen } }`,
		fixture: func(t *testing.T, w *authzWorld) authzFixture {
			owner := w.users[asOwner].ID
			t.Cleanup(func() {
				w.do(t, asAdmin, `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`, map[string]any{"u": owner})
			})
			return authzFixture{vars: map[string]any{"u": owner}}
		}, want: azAdminOnly}},
	"Mutation.unfreezeWallet": {{doc: `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`,
		fixture: func(_ *testing.T, w *authzWorld) authzFixture {
			return authzFixture{vars: map[string]any{"u": w.users[asOwner].ID}}
		}, want: azAdminOnly}},

	// Deposits: the viewer's own; anyone signed in may add money.
	"Query.deposit":        {{doc: `query($id: ID!) { deposit(id: $id) { id } }`, fixture: azByID(func(w *authzWorld) string { return w.deposit }), want: azOwnerSeen}},
	"Query.stripeConfig":   {{doc: `{ stripeConfig { publishableKey sandbox } }`, want: azAnyone}},
	"Mutation.deposit":     {{doc: `mutation { deposit(input: {amount: "20"}) { deposit { id } } }`, want: azSignedIn}},
	"Mutation.uploadMedia": {{upload: true, want: azSignedIn}},

	// Chargebacks and fraud warnings: admins' records.
	"Query.chargebacks":      {{doc: `{ chargebacks(first: 100) { edges { node { id } } } }`, fixture: azProbing(func(w *authzWorld) string { return w.chargeback }), want: azAdminListSeen}},
	"Query.fraudWarnings":    {{doc: `{ fraudWarnings(first: 100) { edges { node { id } } } }`, fixture: azProbing(func(w *authzWorld) string { return w.fraudWarning }), want: azAdminListSeen}},
	"Query.reconciliation":   {{doc: `{ reconciliation(since: "2020-01-01T00:00:00Z") { matched clean } }`, want: azAdminOnly}},
	"Mutation.refundDeposit": {{doc: `mutation($id: ID!) { refundDeposit(depositId: $id) { status } }`, fixture: azFresh((*authzWorld).paidDeposit), want: azAdminOnly}},

	// Payouts. Both contractors are verified, so creating a second account
	// is CONFLICT for them: past the authorization check.
	"Query.connectAccountStatus":                 {{doc: `{ connectAccountStatus { accountId } }`, fixture: azProbing(func(w *authzWorld) string { return w.connectAccount }), want: azOwnAccountSeen}},
	"Mutation.createConnectAccount":              {{doc: `mutation { createConnectAccount { accountId } }`, want: azRow(azUnauth, azForbidden, azForbidden, azConflict, azConflict, azForbidden)}},
	"Mutation.refreshConnectOnboardingLink":      {{doc: `mutation { refreshConnectOnboardingLink { accountId } }`, want: azRow(azUnauth, azNotFound, azNotFound, azOK, azOK, azNotFound)}},
	"Mutation.createFinancialConnectionsSession": {{doc: `mutation { createFinancialConnectionsSession { sessionId } }`, want: azSignedIn}},
	"Mutation.withdraw":                          {{doc: `mutation { withdraw(amount: "10") { withdrawal { id } } }`, want: azContractors}},
	"Query.withdrawals":                          {{doc: `{ withdrawals(first: 100) { edges { node { id } } } }`, fixture: azProbing(func(w *authzWorld) string { return w.withdrawal }), want: azWithdrawalSeen}},
	"Query.withdrawal":                           {{doc: `query($id: ID!) { withdrawal(id: $id) { id } }`, fixture: azByID(func(w *authzWorld) string { return w.withdrawal }), want: azWithdrawalSeen}},
	"Mutation.approveWithdrawal":                 {{doc: `mutation($id: ID!) { approveWithdrawal(id: $id) { status } }`, fixture: azFresh((*authzWorld).pendingWithdrawal), want: azAdminOnly}},
	"Mutation.rejectWithdrawal":                  {{doc: `mutation($id: ID!) { rejectWithdrawal(id: $id, reason: "authorization matrix") { status } }`, fixture: azFresh((*authzWorld).pendingWithdrawal), want: azAdminOnly}},

	// Marketplace.
	"Query.job": {
		{doc: `query($id: ID!) { job(id: $id) { id } }`, fixture: azByID(func(w *authzWorld) string { return w.openJob }), want: azSignedInSeen},
		{name: "Job.offer", doc: `query($id: ID!) { job(id: $id) { offer { id } } }`,
			fixture: func(_ *testing.T, w *authzWorld) authzFixture {
				return authzFixture{vars: map[string]any{"id": w.openJob}, probe: w.offer}
			}, want: azPartiesSeen},
		{name: "Job.contract", doc: `query($id: ID!) { job(id: $id) { contract { id } } }`,
			fixture: func(_ *testing.T, w *authzWorld) authzFixture {
				return authzFixture{vars: map[string]any{"id": w.contractJob}, probe: w.contract}
			}, want: azPartiesSeen},
		{name: "Job.applications", doc: `query($id: ID!) { job(id: $id) { applications { edges { node { id } } } } }`,
			fixture: func(_ *testing.T, w *authzWorld) authzFixture {
				return authzFixture{vars: map[string]any{"id": w.openJob}, probe: w.application}
			}, want: azPartiesSeen},
		{name: "Job.delivery", doc: `query($id: ID!) { job(id: $id) { delivery { note } } }`,
			fixture: func(t *testing.T, w *authzWorld) authzFixture {
				job := w.inProgressJob(t)
				note := "Delivered " + job
				w.do(t, asParty, `mutation($id: ID!, $note: String!) { submitWork(input: {jobId: $id, note: $note}) { id } }`, map[string]any{"id": job, "note": note})
				return authzFixture{vars: map[string]any{"id": job}, probe: note}
			}, want: azPartiesSeen},
	},
	"Query.jobs":   {{doc: `query($id: ID!) { jobs(where: {id: $id}) { edges { node { id } } } }`, fixture: azByID(func(w *authzWorld) string { return w.openJob }), want: azSignedInSeen}},
	"Query.offers": {{doc: `{ offers(first: 100) { edges { node { id } } } }`, fixture: azProbing(func(w *authzWorld) string { return w.offer }), want: azPartiesSeen}},
	"Query.contracts": {
		{doc: `{ contracts(first: 100) { edges { node { id } } } }`, fixture: azProbing(func(w *authzWorld) string { return w.contract }), want: azPartiesSeen},
		{name: "escrowStatus", doc: `{ contracts(first: 100, escrowStatus: RELEASE_REQUESTED) { edges { node { id } } } }`,
			fixture: func(t *testing.T, w *authzWorld) authzFixture { return authzFixture{probe: w.releaseRequested(t)} }, want: azPartiesSeen},
	},
	"Query.reviews": {
		{doc: `query($id: ID!) { reviews(freelancerId: $id) { edges { node { id } } } }`,
			fixture: func(_ *testing.T, w *authzWorld) authzFixture {
				return authzFixture{vars: map[string]any{"id": w.users[asParty].ID}, probe: w.review}
			}, want: azRow(azSeen, azSeen, azSeen, azSeen, azSeen, azSeen)},
		// A contract is public through its review; the money in it is not.
		{name: "Contract.escrow", doc: `query($id: ID!) { reviews(freelancerId: $id) { edges { node { contract { escrow { id } } } } } }`,
			fixture: func(_ *testing.T, w *authzWorld) authzFixture {
				return authzFixture{vars: map[string]any{"id": w.users[asParty].ID}, probe: w.reviewedEscrow}
			}, want: azRow(azForbidden, azSeen, azForbidden, azSeen, azForbidden, azSeen)},
		{name: "Contract.offer", doc: `query($id: ID!) { reviews(freelancerId: $id) { edges { node { contract { offer { id } } } } } }`,
			fixture: func(_ *testing.T, w *authzWorld) authzFixture {
				return authzFixture{vars: map[string]any{"id": w.users[asParty].ID}, probe: w.reviewedOffer}
			}, want: azRow(azHidden, azSeen, azHidden, azSeen, azHidden, azSeen)},
	},
	"Mutation.createJob":  {{doc: `mutation { createJob(input: {title: "Mow the lawn", description: "Front and back garden", budget: "40"}) { id } }`, want: azCustomers}},
	"Mutation.applyToJob": {{doc: `mutation($id: ID!) { applyToJob(input: {jobId: $id}) { id } }`, fixture: azFresh((*authzWorld).postJob), want: azContractors}},
	"Mutation.sendOffer": {{doc: `mutation($id: ID!) { sendOffer(input: {applicationId: $id, amount: "10", timeline: "3 days", description: "Two coats of white paint"}) { offer { id } } }`,
		fixture: azFresh(func(w *authzWorld, t *testing.T) string { return w.apply(t, w.postJob(t)) }), want: azOwnerOnly}},
	"Mutation.acceptOffer":   {{doc: `mutation($id: ID!) { acceptOffer(offerId: $id) { contract { id } } }`, fixture: azFresh((*authzWorld).pendingOffer), want: azPartyOnly}},
	"Mutation.rejectOffer":   {{doc: `mutation($id: ID!) { rejectOffer(offerId: $id, reason: "Booked that week") { refundAmount } }`, fixture: azFresh((*authzWorld).pendingOffer), want: azPartyOnly}},
	"Mutation.withdrawOffer": {{doc: `mutation($id: ID!) { withdrawOffer(offerId: $id) { refundAmount } }`, fixture: azFresh((*authzWorld).pendingOffer), want: azOwnerOnly}},
	// IN_PROGRESS is the customer's or the assigned contractor's move, not
	// an admin's (docs/api.md, "Jobs, offers and escrow").
	"Mutation.updateJobStatus": {{doc: `mutation($id: ID!) { updateJobStatus(id: $id, status: IN_PROGRESS) { status } }`,
		fixture: azFresh(func(w *authzWorld, t *testing.T) string { return w.jobOf(t, w.acceptedContract(t)) }),
		want:    azRow(azUnauth, azOK, azForbidden, azOK, azForbidden, azForbidden)}},
	"Mutation.completeJob": {{doc: `mutation($id: ID!) { completeJob(jobId: $id) { awaitingApproval } }`,
		fixture: azFresh((*authzWorld).inProgressJob), want: azOwnerOnly}},
	"Mutation.submitWork": {{doc: `mutation($id: ID!) { submitWork(input: {jobId: $id, note: "authorization matrix"}) { deliveredAt } }`,
		fixture: azFresh((*authzWorld).inProgressJob), want: azPartyOnly}},
	"Mutation.cancelJob": {{doc: `mutation($id: ID!) { cancelJob(jobId: $id, reason: "authorization matrix") { refundAmount } }`,
		fixture: azFresh(func(w *authzWorld, t *testing.T) string { return w.jobOf(t, w.acceptedContract(t)) }), want: azOwnerOrAdmin}},
	"Mutation.requestFundRelease": {{doc: `mutation($id: ID!) { requestFundRelease(contractId: $id) { status } }`, fixture: azFresh((*authzWorld).acceptedContract), want: azOwnerOnly}},
	"Mutation.approveFundRelease": {{doc: `mutation($id: ID!) { approveFundRelease(contractId: $id) { status } }`, fixture: azFresh((*authzWorld).releaseRequested), want: azAdminOnly}},
	"Mutation.refundEscrow":       {{doc: `mutation($id: ID!) { refundEscrow(input: {contractId: $id, refundTo: WALLET}) { status } }`, fixture: azFresh((*authzWorld).acceptedContract), want: azOwnerOrAdmin}},
	"Mutation.rateFreelancer":     {{doc: `mutation($id: ID!) { rateFreelancer(input: {contractId: $id, rating: 5, description: "Tidy work"}) { id } }`, fixture: azFresh((*authzWorld).completedContract), want: azOwnerOnly}},
	"Mutation.payForJob": {{doc: `mutation($id: ID!, $k: ID!) { payForJob(input: {jobId: $id, freelancerId: $k, title: "Fence", rate: "50"}) { sessionId } }`,
		fixture: func(t *testing.T, w *authzWorld) authzFixture {
			return authzFixture{vars: map[string]any{"id": w.postJob(t), "k": w.users[asParty].ID}}
		}, want: azOwnerOnly}},

	// Disputes: argued by the contract's parties, read by admins too,
	// settled by admins at any time.
	"Query.dispute": {
		{doc: `query($id: ID!) { dispute(id: $id) { id } }`, fixture: azByID(func(w *authzWorld) string { return w.dispute }), want: azPartiesSeen},
		{name: "Contract.dispute", doc: `query($id: ID!) { dispute(id: $id) { contract { dispute { id } } } }`,
			fixture: azByID(func(w *authzWorld) string { return w.dispute }), want: azPartiesSeen},
	},
	"Query.disputeSplitPreview": {{doc: `query($id: ID!) { disputeSplitPreview(disputeId: $id, contractorAmount: "4") { serviceFee customerRefund } }`,
		fixture: azPassing(func(w *authzWorld) string { return w.dispute }), want: azPartiesOrAdmin}},
	"Query.disputes": {{doc: `{ disputes(first: 100) { edges { node { id } } } }`, fixture: azProbing(func(w *authzWorld) string { return w.dispute }), want: azPartiesSeen}},
	"Mutation.openDispute": {{doc: `mutation($id: ID!) { openDispute(input: {contractId: $id, reason: NOT_DELIVERED, description: "authorization matrix"}) { id } }`,
		fixture: azFresh((*authzWorld).acceptedContract), want: azRow(azUnauth, azOK, azForbidden, azOK, azForbidden, azForbidden)}},
	"Mutation.addDisputeMessage": {{doc: `mutation($id: ID!) { addDisputeMessage(input: {disputeId: $id, body: "authorization matrix"}) { id } }`,
		fixture: azPassing(func(w *authzWorld) string { return w.dispute }), want: azRow(azUnauth, azOK, azForbidden, azOK, azForbidden, azOK)}},
	"Mutation.proposeSettlement": {{doc: `mutation($id: ID!) { proposeSettlement(input: {disputeId: $id, contractorAmount: "4"}) { id } }`,
		fixture: azPassing(func(w *authzWorld) string { return w.dispute }), want: azRow(azUnauth, azOK, azForbidden, azOK, azForbidden, azForbidden)}},
	// The party who proposed cannot accept: CONFLICT, past the check.
	"Mutation.acceptSettlement": {{doc: `mutation($id: ID!) { acceptSettlement(disputeId: $id) { status } }`,
		fixture: azFresh((*authzWorld).proposedDispute), want: azRow(azUnauth, azOK, azForbidden, azConflict, azForbidden, azForbidden)}},
	"Mutation.withdrawDispute": {{doc: `mutation($id: ID!) { withdrawDispute(disputeId: $id) { status } }`,
		fixture: azFresh((*authzWorld).openedDispute), want: azOwnerOnly}},
	"Mutation.resolveDispute": {{doc: `mutation($id: ID!) { resolveDispute(input: {disputeId: $id, contractorAmount: "5", note: "authorization matrix"}) { status } }`,
		fixture: azFresh((*authzWorld).openedDispute), want: azAdminOnly}},

	// Subscriptions, over graphql-transport-ws: every viewer subscribes,
	// the fixture's event happens, and only those who may see it get it.
	"Subscription.walletUpdated": {{doc: `subscription { walletUpdated { kind wallet { id } } }`,
		fixture: func(t *testing.T, w *authzWorld) authzFixture {
			_, pay := w.startDeposit(t)
			return authzFixture{probe: w.wallet, trigger: pay}
		}, want: azOwnerEvents}},
	"Subscription.depositCompleted": {{doc: `subscription($id: ID) { depositCompleted(depositId: $id) { id status } }`,
		fixture: func(t *testing.T, w *authzWorld) authzFixture {
			id, pay := w.startDeposit(t)
			return authzFixture{vars: map[string]any{"id": id}, probe: id, trigger: pay}
		}, want: azOwnerEvents}},
	"Subscription.offerStatusChanged": {{doc: `subscription($id: ID) { offerStatusChanged(offerId: $id) { id status } }`,
		fixture: func(t *testing.T, w *authzWorld) authzFixture {
			offer := w.pendingOffer(t)
			return authzFixture{vars: map[string]any{"id": offer}, probe: offer, trigger: func(t *testing.T) {
				w.do(t, asOwner, `mutation($id: ID!) { withdrawOffer(offerId: $id) { refundAmount } }`, map[string]any{"id": offer})
			}}
		}, want: azPartiesEvents}},
	"Subscription.jobStatusChanged": {{doc: `subscription($id: ID) { jobStatusChanged(jobId: $id) { id status } }`,
		fixture: func(t *testing.T, w *authzWorld) authzFixture {
			job := w.jobOf(t, w.acceptedContract(t))
			return authzFixture{vars: map[string]any{"id": job}, probe: job, trigger: func(t *testing.T) {
				w.do(t, asOwner, `mutation($id: ID!) { updateJobStatus(id: $id, status: IN_PROGRESS) { status } }`, map[string]any{"id": job})
			}}
		}, want: azPartiesEvents}},
	"Subscription.adminQueueChanged": {{doc: `subscription { adminQueueChanged { queue itemId } }`,
		fixture: func(t *testing.T, w *authzWorld) authzFixture {
			return authzFixture{probe: w.wallet, trigger: func(t *testing.T) { w.freezeOwner(t, "authorization matrix") }}
		}, want: azAdminEvents}},
	"Subscription.disputeUpdated": {{doc: `subscription($id: ID) { disputeUpdated(disputeId: $id) { id status } }`,
		fixture: func(t *testing.T, w *authzWorld) authzFixture {
			d := w.openedDispute(t)
			return authzFixture{vars: map[string]any{"id": d}, probe: d, trigger: func(t *testing.T) {
				w.do(t, asOwner, `mutation($id: ID!) { addDisputeMessage(input: {disputeId: $id, body: "Look again"}) { id } }`, map[string]any{"id": d})
			}}
		}, want: azPartiesEvents}},
}

var authzSeq atomic.Int64

// authzRootFields lists the live schema's root fields as Type.field.
func authzRootFields() []string {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}, Directives: graph.Directives()}).Schema()
	var fields []string
	for _, root := range []string{"Query", "Mutation", "Subscription"} {
		def := schema.Types[root]
		if def == nil {
			continue
		}
		for _, f := range def.Fields {
			if !strings.HasPrefix(f.Name, "__") { // __schema, __type: introspection
				fields = append(fields, root+"."+f.Name)
			}
		}
	}
	sort.Strings(fields)
	return fields
}

func TestAuthorizationMatrix(t *testing.T) {
	fields := authzRootFields()
	for _, f := range fields {
		if len(authzTable[f]) == 0 {
			t.Errorf("%s is in the schema but not in authzTable: say who may call it and how to try it", f)
		}
	}
	for f, probes := range authzTable {
		if !slices.Contains(fields, f) {
			t.Errorf("authzTable has %s, which the schema no longer has", f)
		}
		for _, p := range probes {
			if slices.Contains(p.want[:], "") {
				t.Errorf("%s %s: an outcome for every viewer, please", f, p.name)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	w := newAuthzWorld(t)
	// Reads first, while the world's lists are short; then the
	// subscriptions and the mutations, each on objects of its own.
	rank := map[string]int{"Query": 0, "Subscription": 1, "Mutation": 2}
	sort.SliceStable(fields, func(i, j int) bool {
		ri, rj := rank[strings.SplitN(fields[i], ".", 2)[0]], rank[strings.SplitN(fields[j], ".", 2)[0]]
		return ri < rj
	})
	for _, field := range fields {
		t.Run(field, func(t *testing.T) {
			// The matrix is about who may call what, not how often: rate
			// limits (deposit 5/h, withdraw 3/h, login 10 per email, …)
			// would otherwise refuse the fixtures of later fields.
			w.srv.App.Client.RateLimitBucket.Delete().ExecX(context.Background())
			for _, p := range authzTable[field] {
				if strings.HasPrefix(field, "Subscription.") {
					w.checkSubscription(t, field, p)
				} else {
					w.check(t, field, p)
				}
			}
		})
	}
	w.srv.RequireLedgerVerified(t)
}

// check calls the probe's operation as every viewer in turn.
func (w *authzWorld) check(t *testing.T, field string, p authzProbe) {
	t.Helper()
	fixture := p.fixture
	if fixture == nil {
		fixture = azNoFixture
	}
	fx, spent := authzFixture{}, true
	for _, v := range authzViewers {
		if spent {
			fx, spent = fixture(t, w), false
		}
		c := w.srv.Client(w.users[v].AccessToken)
		var resp servertest.Response
		if p.upload {
			resp = uploadGraphQL(t, c, "matrix.png", pngBytes(t, 8))
		} else {
			resp = c.Do(t, p.doc, fx.vars)
		}
		got := azOutcome(resp.Errors, resp.Data, fx.probe)
		if want := p.want[v]; got != want {
			t.Errorf("%s %s as %s: want %s, got %s (%s; data %.200s)", field, p.name, v, want, got, resp.ErrorSummary(), resp.Data)
		}
		spent = len(resp.Errors) == 0
	}
}

// azOutcome names what a call came to: its error codes, or whether the
// answer holds the probe.
func azOutcome(errs []servertest.Error, data json.RawMessage, probe string) string {
	if len(errs) > 0 {
		var codes []string
		for _, e := range errs {
			if !slices.Contains(codes, e.Code()) {
				codes = append(codes, e.Code())
			}
		}
		return strings.Join(codes, ",")
	}
	switch {
	case probe == "":
		return azOK
	case strings.Contains(string(data), probe):
		return azSeen
	}
	return azHidden
}

// checkSubscription subscribes as every viewer, makes the fixture's event
// happen and sees who got it.
func (w *authzWorld) checkSubscription(t *testing.T, field string, p authzProbe) {
	t.Helper()
	fx := p.fixture(t, w)
	if fx.trigger == nil {
		t.Fatalf("%s: a subscription's fixture needs a trigger", field)
	}
	waitFor(t, func() bool { return w.srv.App.Broker.Subscriptions() == 0 }) // the last probe's are gone
	type sub struct {
		ws      *servertest.WS
		id      string
		outcome string // set once something arrived for the subscription
	}
	var subs [len(authzViewers)]*sub
	for _, v := range authzViewers {
		var init map[string]any
		if v != asAnon {
			init = map[string]any{"Authorization": "Bearer " + w.users[v].AccessToken}
		}
		ws, err := w.srv.DialWebsocket(t, servertest.TransportWS, init, nil)
		if err != nil {
			t.Fatalf("%s: dial: %v", v, err)
		}
		defer ws.Close()
		subs[v] = &sub{ws: ws, id: ws.Subscribe(t, p.doc, fx.vars)}
	}
	// read handles what arrived for the subscription; until reports
	// whether reading may stop.
	read := func(s *sub, until func(servertest.WSMessage) bool) error {
		for {
			msg, err := s.ws.Read()
			if err != nil {
				return err
			}
			if msg.ID == s.id && s.outcome == "" {
				var resp servertest.Response
				switch msg.Type {
				case "next":
					_ = json.Unmarshal(msg.Payload, &resp)
					s.outcome = azOutcome(resp.Errors, resp.Data, fx.probe)
					if s.outcome == azSeen {
						s.outcome = azReceived
					}
				case "error":
					_ = json.Unmarshal(msg.Payload, &resp.Errors)
					s.outcome = azOutcome(resp.Errors, nil, fx.probe)
				}
			}
			if until(msg) {
				return nil
			}
		}
	}
	// settle runs a query on the socket and reads up to its answer: the
	// server has handled everything sent before it.
	settle := func(s *sub) {
		id := s.ws.Subscribe(t, `{ __typename }`, nil)
		if err := read(s, func(m servertest.WSMessage) bool { return m.ID == id && m.Type == "complete" }); err != nil {
			t.Fatalf("%s: %v", field, err)
		}
	}
	for _, s := range subs {
		settle(s) // subscribed (or refused) before the event happens
	}
	// gqlgen starts each subscription in a goroutine of its own, so the
	// settling query may overtake it: wait for the broker to hold every
	// signed-in viewer's subscription.
	live := 0
	for _, want := range p.want {
		if want == azReceived || want == azSilent {
			live++
		}
	}
	waitFor(t, func() bool { return w.srv.App.Broker.Subscriptions() >= live })
	fx.trigger(t)
	for _, v := range authzViewers {
		if s := subs[v]; p.want[v] == azReceived && s.outcome == "" {
			if err := read(s, func(servertest.WSMessage) bool { return s.outcome != "" }); err != nil {
				s.outcome = "nothing (" + err.Error() + ")"
			}
		}
	}
	// Whoever was to receive it has it; anyone else would have it too by now.
	for _, v := range authzViewers {
		s := subs[v]
		if s.outcome == "" {
			settle(s)
		}
		if s.outcome == "" {
			s.outcome = azSilent
		}
		if want := p.want[v]; s.outcome != want {
			t.Errorf("%s as %s: want %s, got %s", field, v, want, s.outcome)
		}
	}
	// The legacy protocol (subscriptions-transport-ws) refuses alike.
	legacy, err := w.srv.DialWebsocket(t, servertest.LegacyWS, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	if r := legacy.Query(t, p.doc, fx.vars); azOutcome(r.Errors, r.Data, fx.probe) != azUnauth {
		t.Errorf("%s as anonymous over graphql-ws: %s %s", field, r.ErrorSummary(), r.Data)
	}
}

// authzWorld is the fixture world: the viewers and customer A's objects.
type authzWorld struct {
	srv   *servertest.Server
	users [len(authzViewers)]servertest.User

	wallet, transaction, deposit  string // customer A's
	openJob, application, offer   string // A's OPEN job, contractor A's application, A's PENDING offer to them
	contractJob, contract         string // an accepted offer: contract ACTIVE, escrow FUNDED
	escrow                        string
	review                        string // of a COMPLETED contract between the two
	reviewedEscrow, reviewedOffer string
	withdrawal, connectAccount    string // contractor A's (PENDING: withdrawals wait for an admin)
	dispute                       string // customer A's open dispute of a contract with contractor A
	chargeback, fraudWarning      string // of a customer outside the viewers (their wallet is frozen)
}

func newAuthzWorld(t *testing.T) *authzWorld {
	t.Helper()
	srv := secStart(t, "REQUIRE_WITHDRAWAL_APPROVAL", "true", "REGISTER_LIMIT_PER_ADDRESS", "0", "LOGIN_LIMIT_PER_ADDRESS", "0")
	w := &authzWorld{srv: srv}
	w.users[asOwner] = srv.Register(t, "CUSTOMER")
	w.users[asCustomer] = srv.Register(t, "CUSTOMER")
	w.users[asParty] = verifiedContractor(t, srv, "verified")
	w.users[asContractor] = verifiedContractor(t, srv, "verified")
	w.users[asAdmin] = srv.Admin(t)
	srv.Fund(t, w.users[asOwner].ID, 10_000_00)
	srv.Fund(t, w.users[asParty].ID, 1_000_00)
	srv.Fund(t, w.users[asContractor].ID, 1_000_00)

	w.wallet = w.do(t, asOwner, `{ wallet { id } }`, nil, "wallet", "id")
	w.transaction = w.do(t, asOwner, `{ transactions(first: 1) { edges { node { id } } } }`, nil, "transactions", "edges", "0", "node", "id")
	w.deposit, _ = w.startDeposit(t)
	w.offer = w.pendingOffer(t)
	w.openJob = w.do(t, asOwner, `query($id: ID!) { node(id: $id) { ... on Offer { job { id } } } }`, map[string]any{"id": w.offer}, "node", "job", "id")
	w.application = w.do(t, asOwner, `query($id: ID!) { node(id: $id) { ... on Offer { application { id } } } }`, map[string]any{"id": w.offer}, "node", "application", "id")
	w.contract = w.acceptedContract(t)
	w.contractJob = w.jobOf(t, w.contract)
	w.escrow = w.do(t, asOwner, `query($id: ID!) { node(id: $id) { ... on Contract { escrow { id } } } }`, map[string]any{"id": w.contract}, "node", "escrow", "id")
	completed := w.completedContract(t)
	w.review = w.do(t, asOwner, `mutation($id: ID!) { rateFreelancer(input: {contractId: $id, rating: 4, description: "On time"}) { id } }`,
		map[string]any{"id": completed}, "rateFreelancer", "id")
	w.reviewedEscrow = w.do(t, asOwner, `query($id: ID!) { node(id: $id) { ... on Contract { escrow { id } } } }`, map[string]any{"id": completed}, "node", "escrow", "id")
	w.reviewedOffer = w.do(t, asOwner, `query($id: ID!) { node(id: $id) { ... on Contract { offer { id } } } }`, map[string]any{"id": completed}, "node", "offer", "id")
	w.withdrawal = w.pendingWithdrawal(t)
	w.connectAccount = w.do(t, asParty, `{ connectAccountStatus { accountId } }`, nil, "connectAccountStatus", "accountId")
	w.dispute = w.openedDispute(t)
	// A chargeback, then an early fraud warning, of another customer's
	// deposits (the sandbox's 0259 and 5423 cards).
	disputed := srv.Register(t, "CUSTOMER")
	for _, card := range []string{"4000000000000259", "4000000000005423"} {
		d := startDeposit(t, srv.Client(disputed.AccessToken), map[string]any{"amount": "20"})
		payCheckout(t, *d.Deposit.CheckoutURL, card)
	}
	w.chargeback = w.do(t, asAdmin, `{ chargebacks(first: 1) { edges { node { id } } } }`, nil, "chargebacks", "edges", "0", "node", "id")
	w.fraudWarning = w.do(t, asAdmin, `{ fraudWarnings(first: 1) { edges { node { id } } } }`, nil, "fraudWarnings", "edges", "0", "node", "id")
	return w
}

// freezeOwner: customer A's wallet frozen by an admin with note, until
// the test ends.
func (w *authzWorld) freezeOwner(t *testing.T, note string) {
	owner := w.users[asOwner].ID
	w.do(t, asAdmin, `mutation($u: ID!, $r: String!) { freezeWallet(userId: $u, reason: $r) { isFrozen } }`, map[string]any{"u": owner, "r": note})
	t.Cleanup(func() {
		w.do(t, asAdmin, `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`, map[string]any{"u": owner})
	})
}

// azUserProbe reads a field of user who's through node(id), looking for
// one of the world's ids in it.
func azUserProbe(name, selection string, id func(w *authzWorld) string, who authzViewer, want authzRow) authzProbe {
	return authzProbe{name: name, doc: `query($id: ID!) { node(id: $id) { ... on User { ` + selection + ` } } }`,
		fixture: func(_ *testing.T, w *authzWorld) authzFixture {
			return authzFixture{vars: map[string]any{"id": w.users[who].ID}, probe: id(w)}
		}, want: want}
}

// openedDispute: customer A's dispute of a new contract with contractor A.
func (w *authzWorld) openedDispute(t *testing.T) string {
	return w.do(t, asOwner, `mutation($id: ID!) { openDispute(input: {contractId: $id, reason: QUALITY, description: "Streaky paint"}) { id } }`,
		map[string]any{"id": w.acceptedContract(t)}, "openDispute", "id")
}

// proposedDispute: an opened dispute with contractor A's proposal.
func (w *authzWorld) proposedDispute(t *testing.T) string {
	d := w.openedDispute(t)
	w.do(t, asParty, `mutation($id: ID!) { proposeSettlement(input: {disputeId: $id, contractorAmount: "5"}) { id } }`, map[string]any{"id": d})
	return d
}

// do runs an operation that must succeed as the viewer and returns the
// string at path in its data ("" without a path).
func (w *authzWorld) do(t *testing.T, v authzViewer, doc string, vars map[string]any, path ...string) string {
	t.Helper()
	var data any
	w.srv.Client(w.users[v].AccessToken).MustDo(t, doc, vars, &data)
	for _, key := range path {
		switch d := data.(type) {
		case map[string]any:
			data = d[key]
		case []any:
			var i int
			fmt.Sscan(key, &i)
			if i >= len(d) {
				t.Fatalf("%s: no %s at %v", doc, key, path)
			}
			data = d[i]
		}
	}
	s, _ := data.(string)
	if len(path) > 0 && s == "" {
		t.Fatalf("%s: nothing at %v", doc, path)
	}
	return s
}

// postJob: an OPEN job of customer A.
func (w *authzWorld) postJob(t *testing.T) string {
	return w.do(t, asOwner, `mutation { createJob(input: {title: "Paint the fence", description: "Two coats, white", budget: "50"}) { id } }`, nil, "createJob", "id")
}

// apply: contractor A's application to the job.
func (w *authzWorld) apply(t *testing.T, job string) string {
	return w.do(t, asParty, `mutation($id: ID!) { applyToJob(input: {jobId: $id, coverLetter: "Painter"}) { id } }`, map[string]any{"id": job}, "applyToJob", "id")
}

// pendingOffer: customer A's offer to contractor A on a new job.
func (w *authzWorld) pendingOffer(t *testing.T) string {
	return w.do(t, asOwner, `mutation($id: ID!) { sendOffer(input: {applicationId: $id, amount: "10", timeline: "3 days", description: "Two coats of white paint"}) { offer { id } } }`,
		map[string]any{"id": w.apply(t, w.postJob(t))}, "sendOffer", "offer", "id")
}

// acceptedContract: the contract of an accepted offer, escrow FUNDED.
func (w *authzWorld) acceptedContract(t *testing.T) string {
	return w.do(t, asParty, `mutation($id: ID!) { acceptOffer(offerId: $id) { contract { id } } }`, map[string]any{"id": w.pendingOffer(t)}, "acceptOffer", "contract", "id")
}

func (w *authzWorld) jobOf(t *testing.T, contract string) string {
	return w.do(t, asOwner, `query($id: ID!) { node(id: $id) { ... on Contract { job { id } } } }`, map[string]any{"id": contract}, "node", "job", "id")
}

// inProgressJob: the job of an accepted contract, moved IN_PROGRESS by
// its customer.
func (w *authzWorld) inProgressJob(t *testing.T) string {
	job := w.jobOf(t, w.acceptedContract(t))
	w.do(t, asOwner, `mutation($id: ID!) { updateJobStatus(id: $id, status: IN_PROGRESS) { status } }`, map[string]any{"id": job})
	return job
}

// releaseRequested: a contract whose customer asked for the release.
func (w *authzWorld) releaseRequested(t *testing.T) string {
	c := w.acceptedContract(t)
	w.do(t, asOwner, `mutation($id: ID!) { requestFundRelease(contractId: $id) { id } }`, map[string]any{"id": c})
	return c
}

// completedContract: released by an admin, COMPLETED.
func (w *authzWorld) completedContract(t *testing.T) string {
	c := w.releaseRequested(t)
	w.do(t, asAdmin, `mutation($id: ID!) { approveFundRelease(contractId: $id) { status } }`, map[string]any{"id": c})
	return c
}

// pendingWithdrawal: contractor A's, waiting for an admin.
func (w *authzWorld) pendingWithdrawal(t *testing.T) string {
	return w.do(t, asParty, `mutation { withdraw(amount: "10") { withdrawal { id } } }`, nil, "withdraw", "withdrawal", "id")
}

// startDeposit: customer A's sandbox Checkout deposit, and the payment
// that completes it.
func (w *authzWorld) startDeposit(t *testing.T) (string, func(t *testing.T)) {
	d := startDeposit(t, w.srv.Client(w.users[asOwner].AccessToken), map[string]any{"amount": "20"})
	return d.Deposit.Deposit.ID, func(t *testing.T) {
		payCheckout(t, *d.Deposit.CheckoutURL, "4242424242424242")
	}
}

// paidDeposit: customer A's sandbox Checkout deposit, paid.
func (w *authzWorld) paidDeposit(t *testing.T) string {
	id, pay := w.startDeposit(t)
	pay(t)
	return id
}

// azRefreshToken: a new sign-in of customer A.
func azRefreshToken(t *testing.T, w *authzWorld) authzFixture {
	u := w.users[asOwner]
	sess, err := w.srv.App.Auth.Login(context.Background(), u.Email, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	return authzFixture{vars: map[string]any{"t": sess.Tokens.RefreshToken}}
}

// waitFor polls cond for up to 5 s; the assertions after it tell what
// went wrong if it never holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}
