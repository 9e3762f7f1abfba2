package server_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestWithdrawReplaysDoNotCount: six concurrent withdraw calls with one
// idempotency key make one withdrawal, every one of them answers it, and
// only it counts in the withdrawal limit (3 an hour): two more new
// requests still go through. 50 rounds on PostgreSQL, where the six
// really overlap.
func TestWithdrawReplaysDoNotCount(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		rounds := 50
		if db == servertest.SQLite {
			rounds = 3
		}
		srv := servertest.New(t, db)
		for r := range rounds {
			k := verifiedContractor(t, srv, "verified")
			servertest.AwayFromWindowEdge(t, auth.WithdrawLimit.Window, 10*time.Second)
			kc := srv.Client(k.AccessToken)
			srv.Fund(t, k.ID, 10000)
			key := fmt.Sprintf("same-key-%d", r)
			resps := make([]servertest.Response, 6)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range resps {
				wg.Go(func() {
					<-start
					resps[i] = kc.Do(t, withdrawMutation, map[string]any{"a": "10", "k": key})
				})
			}
			close(start)
			wg.Wait()
			ids := map[string]bool{}
			for i, resp := range resps {
				if len(resp.Errors) > 0 {
					t.Errorf("round %d: call %d of the same request refused: %s", r, i, resp.ErrorSummary())
					continue
				}
				var out withdrawResult
				if err := json.Unmarshal(resp.Data, &out); err != nil {
					t.Fatal(err)
				}
				ids[out.Withdraw.Withdrawal.ID] = true
			}
			if len(ids) != 1 {
				t.Errorf("round %d: the same request made %d withdrawals: %v", r, len(ids), ids)
			}
			// Two new requests fit in the hour's three.
			var out withdrawResult
			kc.MustDo(t, withdrawMutation, map[string]any{"a": "10", "k": key + "-next"}, &out)
			kc.MustDo(t, withdrawMutation, map[string]any{"a": "10"}, &out)
			if out.Withdraw.Wallet.Balance != "70.00" || out.Withdraw.Wallet.TotalWithdrawals != "30.00" {
				t.Errorf("round %d: after three withdrawals of $10: %+v", r, out.Withdraw.Wallet)
			}
			kc.Do(t, withdrawMutation, map[string]any{"a": "10"}).RequireError(t, "RATE_LIMITED")
		}
		srv.RequireLedgerVerified(t)
	})
}
