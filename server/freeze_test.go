package server_test

import (
	"encoding/json"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestFreezeIsPublished: an admin's freeze and unfreeze reach the owner's
// walletUpdated feed as FROZEN and UNFROZEN, with the wallet as it is then.
func TestFreezeIsPublished(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		owner, admin := srv.Register(t, "CUSTOMER"), srv.Admin(t)
		ac := srv.Client(admin.AccessToken)
		ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + owner.AccessToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.Subscribe(t, `subscription { walletUpdated { kind wallet { isFrozen } } }`, nil)
		ws.Query(t, `{ me { id } }`, nil) // the subscription is live once a later operation answers

		for _, step := range []struct {
			doc, kind string
			frozen    bool
		}{
			{`mutation($u: ID!) { freezeWallet(userId: $u, reason: "Chargeback under review") { isFrozen } }`, "FROZEN", true},
			{`mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`, "UNFROZEN", false},
		} {
			ac.MustDo(t, step.doc, map[string]any{"u": owner.ID}, nil)
			_, r := ws.Next(t)
			var got struct {
				WalletUpdated struct {
					Kind   string
					Wallet struct{ IsFrozen bool }
				}
			}
			if err := json.Unmarshal(r.Data, &got); err != nil {
				t.Fatal(err)
			}
			w := got.WalletUpdated
			if w.Kind != step.kind || w.Wallet.IsFrozen != step.frozen {
				t.Fatalf("after %s: walletUpdated %s", step.kind, r.Data)
			}
		}
		// Admins only, and a reason is required.
		srv.Client(owner.AccessToken).Do(t, `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`, map[string]any{"u": owner.ID}).RequireError(t, "FORBIDDEN")
		ac.Do(t, `mutation($u: ID!) { freezeWallet(userId: $u, reason: "  ") { isFrozen } }`, map[string]any{"u": owner.ID}).RequireError(t, "BAD_USER_INPUT")
		srv.RequireLedgerVerified(t)
	})
}
