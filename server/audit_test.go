package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// auditEntry is an AuditEntry as auditLog answers it.
type auditEntry struct {
	ID                               string
	Actor                            struct{ ID string }
	Action, TargetID                 string
	Before, After, Reason, RequestID *string
	CreatedAt                        string
}

const auditLogDoc = `query($actor: ID, $target: ID, $first: Int, $after: Cursor) {
	auditLog(actorId: $actor, targetId: $target, first: $first, after: $after) {
		totalCount pageInfo { hasNextPage endCursor }
		edges { node { id actor { id } action targetId before after reason requestId createdAt } }
	}
}`

type auditPage struct {
	AuditLog struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage bool
			EndCursor   string
		}
		Edges []struct{ Node auditEntry }
	}
}

// auditLog is the log's first page of up to 20, narrowed by vars (actor,
// target).
func auditLog(t *testing.T, ac *servertest.Client, vars map[string]any) []auditEntry {
	t.Helper()
	if vars == nil {
		vars = map[string]any{}
	}
	vars["first"] = 20
	var page auditPage
	ac.MustDo(t, auditLogDoc, vars, &page)
	var out []auditEntry
	for _, e := range page.AuditLog.Edges {
		out = append(out, e.Node)
	}
	if page.AuditLog.TotalCount != len(out) {
		t.Fatalf("auditLog totalCount %d, %d entries", page.AuditLog.TotalCount, len(out))
	}
	return out
}

// TestAuditLogRecordsAdminActions: every admin action made through the
// API is in the audit log afterwards — the admin, the action, the target,
// the status before and after, the reason and the request's id (the
// caller's X-Request-ID) — newest first, narrowed by admin or target; an
// admin action refused (the contract released already, the withdrawal
// approved, the dispute settled, the deposit refunded) leaves no row, nor
// does a party's own refund or cancel.
func TestAuditLogRecordsAdminActions(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		env["REQUIRE_WITHDRAWAL_APPROVAL"] = "true"
		srv := servertest.Start(t, env)
		w := &authzWorld{srv: srv}
		w.users[asOwner] = srv.Register(t, "CUSTOMER")
		w.users[asParty] = verifiedContractor(t, srv, "verified")
		w.users[asAdmin] = srv.Admin(t)
		srv.Fund(t, w.users[asOwner].ID, 1_000_00)
		srv.Fund(t, w.users[asParty].ID, 1_000_00)
		admin := w.users[asAdmin].ID
		// The admin's client sends a request id of its choosing with each call.
		ac := srv.Client(w.users[asAdmin].AccessToken)
		as := func(requestID string) *servertest.Client {
			ac.Header.Set("X-Request-ID", requestID)
			return ac
		}

		released := w.releaseRequested(t)
		withdrawals := [2]string{w.pendingWithdrawal(t), w.pendingWithdrawal(t)}
		disputed := w.openedDispute(t)
		deposit := w.paidDeposit(t)
		refunded := w.acceptedContract(t)
		ownRefund := w.acceptedContract(t)
		cancelled := w.postJob(t)
		ownCancel := w.postJob(t)
		owner := w.users[asOwner]
		oc := srv.Client(owner.AccessToken)

		as("rid-release").MustDo(t, `mutation($id: ID!) { approveFundRelease(contractId: $id) { status } }`, map[string]any{"id": released}, nil)
		as("rid-approve").MustDo(t, `mutation($id: ID!) { approveWithdrawal(id: $id) { status } }`, map[string]any{"id": withdrawals[0]}, nil)
		as("rid-reject").MustDo(t, `mutation($id: ID!) { rejectWithdrawal(id: $id, reason: " No such bank ") { status } }`, map[string]any{"id": withdrawals[1]}, nil)
		as("rid-freeze").MustDo(t, `mutation($u: ID!) { freezeWallet(userId: $u, reason: "Card testing") { isFrozen } }`, map[string]any{"u": owner.ID}, nil)
		as("rid-unfreeze").MustDo(t, `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`, map[string]any{"u": owner.ID}, nil)
		var resolved struct {
			ResolveDispute struct{ ContractorAmount, CustomerRefund string }
		}
		as("rid-resolve").MustDo(t, `mutation($id: ID!) { resolveDispute(input: {disputeId: $id, contractorAmount: "4", note: "Half the fence painted"}) { contractorAmount customerRefund } }`,
			map[string]any{"id": disputed}, &resolved)
		as("rid-deposit").MustDo(t, `mutation($id: ID!) { refundDeposit(depositId: $id) { status } }`, map[string]any{"id": deposit}, nil)
		as("rid-escrow").MustDo(t, `mutation($id: ID!) { refundEscrow(input: {contractId: $id, cancelReason: "fraud", refundTo: WALLET}) { status } }`, map[string]any{"id": refunded}, nil)
		as("rid-cancel").MustDo(t, `mutation($id: ID!) { cancelJob(jobId: $id, reason: "Spam listing") { job { status } } }`, map[string]any{"id": cancelled}, nil)
		// The parties' own refund and cancel are not admin actions.
		oc.MustDo(t, `mutation($id: ID!) { refundEscrow(input: {contractId: $id, refundTo: WALLET}) { status } }`, map[string]any{"id": ownRefund}, nil)
		oc.MustDo(t, `mutation($id: ID!) { cancelJob(jobId: $id) { job { status } } }`, map[string]any{"id": ownCancel}, nil)

		want := []struct {
			action, target, before, after, reason, requestID string
		}{
			{"CANCEL_JOB", cancelled, "OPEN", "CANCELLED", "Spam listing", "rid-cancel"},
			{"REFUND_ESCROW", refunded, "FUNDED", "REFUNDED", "fraud", "rid-escrow"},
			{"REFUND_DEPOSIT", deposit, "SUCCEEDED", "REFUNDED amount=20.00", "", "rid-deposit"},
			{"RESOLVE_DISPUTE", disputed, "OPEN", "SETTLED contractorAmount=" + resolved.ResolveDispute.ContractorAmount +
				" customerRefund=" + resolved.ResolveDispute.CustomerRefund, "Half the fence painted", "rid-resolve"},
			{"UNFREEZE_WALLET", owner.ID, "FROZEN", "UNFROZEN", "", "rid-unfreeze"},
			{"FREEZE_WALLET", owner.ID, "UNFROZEN", "FROZEN", "Card testing", "rid-freeze"},
			{"REJECT_WITHDRAWAL", withdrawals[1], "PENDING", "REJECTED", "No such bank", "rid-reject"},
			{"APPROVE_WITHDRAWAL", withdrawals[0], "PENDING", "PENDING (transfer started)", "", "rid-approve"},
			{"APPROVE_RELEASE", released, "RELEASE_REQUESTED", "RELEASED", "", "rid-release"},
			{"CREATE_ADMIN", admin, "", "ADMIN", "created with jobsphere admin create", ""},
		}
		check := func(t *testing.T, log []auditEntry) {
			t.Helper()
			if len(log) != len(want) {
				t.Fatalf("audit log has %d entries, want %d: %+v", len(log), len(want), log)
			}
			for i, e := range log {
				w := want[i]
				if e.Actor.ID != admin || e.Action != w.action || e.TargetID != w.target || stripeStr(e.Before) != w.before ||
					stripeStr(e.After) != w.after || stripeStr(e.Reason) != w.reason || stripeStr(e.RequestID) != w.requestID || e.CreatedAt == "" {
					t.Errorf("entry %d: %s by %s on %s, %s → %s, reason %s, request %s; want %+v", i, e.Action, e.Actor.ID, e.TargetID,
						stripeStr(e.Before), stripeStr(e.After), stripeStr(e.Reason), stripeStr(e.RequestID), w)
				}
			}
		}
		check(t, auditLog(t, ac, nil))
		check(t, auditLog(t, ac, map[string]any{"actor": admin}))
		if got := auditLog(t, ac, map[string]any{"actor": owner.ID}); len(got) != 0 {
			t.Fatalf("the customer's own actions are in the audit log: %+v", got)
		}
		if got := auditLog(t, ac, map[string]any{"target": owner.ID, "actor": admin}); len(got) != 2 || got[0].Action != "UNFREEZE_WALLET" {
			t.Fatalf("by target: %+v", got)
		}

		// Pages, newest first: two at a time, then the rest after the cursor.
		var first auditPage
		ac.MustDo(t, auditLogDoc, map[string]any{"first": 2}, &first)
		if p := first.AuditLog; len(p.Edges) != 2 || !p.PageInfo.HasNextPage || p.TotalCount != len(want) || p.Edges[0].Node.Action != "CANCEL_JOB" {
			t.Fatalf("first page: %+v", p)
		}
		var rest auditPage
		ac.MustDo(t, auditLogDoc, map[string]any{"after": first.AuditLog.PageInfo.EndCursor, "first": 20}, &rest)
		if p := rest.AuditLog; len(p.Edges) != len(want)-2 || p.Edges[0].Node.Action != "REFUND_DEPOSIT" {
			t.Fatalf("next page: %+v", p)
		}

		// Refused admin actions leave no row.
		for _, refused := range []struct{ doc, id string }{
			{`mutation($id: ID!) { approveFundRelease(contractId: $id) { status } }`, released},
			{`mutation($id: ID!) { rejectWithdrawal(id: $id, reason: "Too late") { status } }`, withdrawals[0]},
			{`mutation($id: ID!) { approveWithdrawal(id: $id) { status } }`, withdrawals[1]},
			{`mutation($id: ID!) { resolveDispute(input: {disputeId: $id, contractorAmount: "1", note: "Again"}) { status } }`, disputed},
			{`mutation($id: ID!) { refundDeposit(depositId: $id) { status } }`, deposit},
			{`mutation($id: ID!) { refundEscrow(input: {contractId: $id, refundTo: WALLET}) { status } }`, refunded},
			{`mutation($id: ID!) { cancelJob(jobId: $id) { job { status } } }`, cancelled},
		} {
			as("rid-refused").Do(t, refused.doc, map[string]any{"id": refused.id}).RequireError(t, "CONFLICT")
		}
		check(t, auditLog(t, ac, nil))

		// Admins only.
		oc.Do(t, auditLogDoc, nil).RequireError(t, "FORBIDDEN")
		srv.RequireLedgerVerified(t)
	})
}

// TestAuditLogIsAppendOnly: the database refuses to change or delete an
// audit entry, in plain SQL and through ent (whose update builders have no
// setters for it: every field is immutable).
func TestAuditLogIsAppendOnly(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		srv.Admin(t) // its creation is an entry
		ctx, c := context.Background(), srv.App.Client
		if n := c.AuditEntry.Query().CountX(ctx); n != 1 {
			t.Fatalf("%d audit entries, want 1", n)
		}
		for what, err := range map[string]error{
			"ent delete": func() error { _, err := c.AuditEntry.Delete().Exec(ctx); return err }(),
			"SQL update": func() error { _, err := c.ExecContext(ctx, "UPDATE audit_entries SET action = 'NOTHING'"); return err }(),
			"SQL delete": func() error { _, err := c.ExecContext(ctx, "DELETE FROM audit_entries"); return err }(),
		} {
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v", what, err)
			}
		}
		if e := c.AuditEntry.Query().OnlyX(ctx); e.Action != "CREATE_ADMIN" || e.Reason == nil || *e.Reason == "" {
			t.Fatalf("entry after the attempts: %+v", e)
		}
	})
}
