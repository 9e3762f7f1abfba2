package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/jobsphere/jobsphere/server/servertest"
)

const createConnect = `mutation { createConnectAccount { accountId onboardingUrl expiresAt } }`
const connectStatus = `{ connectAccountStatus { hasAccount accountId status onboardingComplete chargesEnabled payoutsEnabled currentlyDue pendingVerification errors } }`

type connectStatusResult struct {
	ConnectAccountStatus struct {
		HasAccount, OnboardingComplete, ChargesEnabled, PayoutsEnabled bool
		AccountID, Status                                              *string
		CurrentlyDue, PendingVerification, Errors                      []string
	}
}

func statusOf(t *testing.T, c *servertest.Client) connectStatusResult {
	t.Helper()
	var s connectStatusResult
	c.MustDo(t, connectStatus, nil, &s)
	return s
}

// TestConnectOnboardingInTheSandbox: a contractor creates the account,
// onboards on the sandbox's page, and the signed account.updated it sends
// makes the account VERIFIED (or REJECTED).
func TestConnectOnboardingInTheSandbox(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		contractor, customer := srv.Register(t, "CONTRACTOR"), srv.Register(t, "CUSTOMER")
		kc := srv.Client(contractor.AccessToken)

		if s := statusOf(t, kc); s.ConnectAccountStatus.HasAccount || s.ConnectAccountStatus.Status != nil {
			t.Fatalf("before: %+v", s)
		}
		e := srv.Client(customer.AccessToken).Do(t, createConnect, nil).RequireError(t, "FORBIDDEN")
		if e.Message != "Only contractors can create Connect accounts" {
			t.Fatalf("customer: %q", e.Message)
		}
		var created struct {
			CreateConnectAccount struct{ AccountID, OnboardingURL, ExpiresAt string }
		}
		kc.MustDo(t, createConnect, nil, &created)
		c := created.CreateConnectAccount
		if !strings.HasPrefix(c.OnboardingURL, srv.URL+"/sandbox/connect/"+c.AccountID+"/onboard") || c.ExpiresAt == "" {
			t.Fatalf("created: %+v", c)
		}
		if e := kc.Do(t, createConnect, nil).RequireError(t, "CONFLICT"); e.Message != "Stripe Connect account already exists" {
			t.Fatalf("second account: %q", e.Message)
		}
		if s := statusOf(t, kc); !s.ConnectAccountStatus.HasAccount || *s.ConnectAccountStatus.Status != "PENDING" || s.ConnectAccountStatus.OnboardingComplete {
			t.Fatalf("pending: %+v", s)
		}
		var refreshed struct {
			RefreshConnectOnboardingLink struct{ AccountID, OnboardingURL string }
		}
		kc.MustDo(t, `mutation { refreshConnectOnboardingLink { accountId onboardingUrl } }`, nil, &refreshed)
		if refreshed.RefreshConnectOnboardingLink.AccountID != c.AccountID {
			t.Fatalf("refresh: %+v", refreshed)
		}

		if page, body := srv.Get(t, strings.TrimPrefix(c.OnboardingURL, srv.URL)); page.StatusCode != http.StatusOK || !strings.Contains(body, "SANDBOX") {
			t.Fatalf("onboarding page: %d", page.StatusCode)
		}
		resp, err := http.PostForm(c.OnboardingURL, url.Values{"outcome": {"verified"}})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("onboard: %v %v", resp, err)
		}
		resp.Body.Close()
		s := statusOf(t, kc).ConnectAccountStatus
		if *s.Status != "VERIFIED" || !s.OnboardingComplete || !s.ChargesEnabled || !s.PayoutsEnabled || len(s.CurrentlyDue) != 0 {
			t.Fatalf("verified: %+v", s)
		}

		other := srv.Register(t, "CONTRACTOR")
		oc := srv.Client(other.AccessToken)
		oc.MustDo(t, createConnect, nil, &created)
		resp, err = http.PostForm(created.CreateConnectAccount.OnboardingURL, url.Values{"outcome": {"rejected"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if s := statusOf(t, oc).ConnectAccountStatus; *s.Status != "REJECTED" || s.PayoutsEnabled {
			t.Fatalf("rejected: %+v", s)
		}
		oc.Do(t, `mutation { refreshConnectOnboardingLink { accountId } }`, nil) // still allowed: a new link
		srv.Client(customer.AccessToken).Do(t, `mutation { refreshConnectOnboardingLink { accountId } }`, nil).RequireError(t, "NOT_FOUND")
	})
}

// TestConnectAgainstStripeMock: the account and link requests go to
// Stripe (stripe-mock accepts them); signed account.updated events move
// the status, and a duplicate changes nothing.
func TestConnectAgainstStripeMock(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	servertest.StripeEnv(env, servertest.StripeMock(t))
	srv := servertest.Start(t, env)
	contractor := srv.Register(t, "CONTRACTOR")
	kc := srv.Client(contractor.AccessToken)
	var created struct {
		CreateConnectAccount struct{ AccountID, OnboardingURL, ExpiresAt string }
	}
	kc.MustDo(t, createConnect, nil, &created)
	acct := created.CreateConnectAccount.AccountID
	if !strings.HasPrefix(acct, "acct_") || created.CreateConnectAccount.OnboardingURL == "" {
		t.Fatalf("created: %+v", created)
	}

	// updateAt sends an account.updated Stripe made at the given time.
	updateAt := func(created time.Time, id string, charges bool, due []string, disabled string) int {
		req := map[string]any{"currently_due": due, "pending_verification": []string{}, "errors": []any{}}
		if disabled != "" {
			req["disabled_reason"] = disabled
		}
		var ev map[string]any
		_ = json.Unmarshal(servertest.StripeEvent(t, id, stripe.EventTypeAccountUpdated, map[string]any{
			"id": acct, "object": "account", "charges_enabled": charges, "payouts_enabled": charges,
			"details_submitted": true, "requirements": req,
		}), &ev)
		ev["account"], ev["created"] = acct, created.Unix()
		raw, _ := json.Marshal(ev)
		return srv.PostWebhook(t, "/webhooks/stripe", raw, servertest.Sign(raw, servertest.WebhookSecret, time.Time{}))
	}
	update := func(id string, charges bool, due []string, disabled string) int {
		return updateAt(time.Now(), id, charges, due, disabled)
	}
	if code := update("evt_a1", false, []string{"individual.id_number"}, ""); code != http.StatusOK {
		t.Fatalf("update: %d", code)
	}
	if s := statusOf(t, kc).ConnectAccountStatus; *s.Status != "PENDING" || len(s.CurrentlyDue) != 1 {
		t.Fatalf("pending: %+v", s)
	}
	update("evt_a2", true, nil, "")
	update("evt_a2", true, nil, "") // duplicate delivery
	if s := statusOf(t, kc).ConnectAccountStatus; *s.Status != "VERIFIED" || !s.OnboardingComplete {
		t.Fatalf("verified: %+v", s)
	}
	update("evt_a3", false, nil, "rejected.fraud")
	if s := statusOf(t, kc).ConnectAccountStatus; *s.Status != "REJECTED" {
		t.Fatalf("rejected: %+v", s)
	}
	// A redelivery of the older VERIFIED event changes nothing.
	update("evt_a2", true, nil, "")
	if s := statusOf(t, kc).ConnectAccountStatus; *s.Status != "REJECTED" {
		t.Fatalf("after duplicate: %+v", s)
	}
	// Stripe does not deliver in order: an event older than the state
	// applied is ignored, a newer one applies.
	updateAt(time.Now().Add(-time.Hour), "evt_a4", true, nil, "")
	if s := statusOf(t, kc).ConnectAccountStatus; *s.Status != "REJECTED" {
		t.Fatalf("a stale event applied: %+v", s)
	}
	// Both events are stamped with one instant (Stripe's resolution is a
	// second), so they surely fall in the same second.
	newer := time.Now().Add(2 * time.Second)
	updateAt(newer, "evt_a5", true, nil, "")
	if s := statusOf(t, kc).ConnectAccountStatus; *s.Status != "VERIFIED" {
		t.Fatalf("a newer event not applied: %+v", s)
	}
	updateAt(newer, "evt_a6", false, []string{"individual.id_number"}, "")
	if s := statusOf(t, kc).ConnectAccountStatus; *s.Status != "VERIFIED" {
		t.Fatalf("an event of the same second moved onboarding back: %+v", s)
	}
}

func TestFinancialConnections(t *testing.T) {
	const create = `mutation { createFinancialConnectionsSession { sessionId clientSecret } }`
	type result struct {
		CreateFinancialConnectionsSession struct{ SessionID, ClientSecret string }
	}

	// Sandbox: a labelled fake; the customer is made once and kept.
	srv := servertest.New(t, servertest.SQLite)
	u := srv.Register(t, "CUSTOMER")
	var r result
	srv.Client(u.AccessToken).MustDo(t, create, nil, &r)
	if !strings.HasPrefix(r.CreateFinancialConnectionsSession.SessionID, "fcsess_sandbox_") ||
		!strings.Contains(r.CreateFinancialConnectionsSession.ClientSecret, "SANDBOX") {
		t.Fatalf("sandbox session: %+v", r)
	}
	srv.Client(u.AccessToken).MustDo(t, create, nil, &r)
	srv.Client("").Do(t, create, nil).RequireError(t, "UNAUTHENTICATED")

	// Stripe (stripe-mock accepts the customer and the session).
	env := servertest.Env(t, servertest.SQLite)
	servertest.StripeEnv(env, servertest.StripeMock(t))
	stripeSrv := servertest.Start(t, env)
	su := stripeSrv.Register(t, "CONTRACTOR")
	stripeSrv.Client(su.AccessToken).MustDo(t, create, nil, &r)
	if !strings.HasPrefix(r.CreateFinancialConnectionsSession.SessionID, "fcsess_") || r.CreateFinancialConnectionsSession.ClientSecret == "" {
		t.Fatalf("stripe session: %+v", r)
	}
}
