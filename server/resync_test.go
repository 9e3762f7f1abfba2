package server_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/payments"
	"github.com/jobsphere/jobsphere/realtime"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// offerOnJob has the contractor apply to the customer's job and the
// customer send them an offer of $50; it returns the offer's id.
func offerOnJob(t *testing.T, customer, contractor *servertest.Client, jobID string) string {
	t.Helper()
	var app struct{ ApplyToJob struct{ ID string } }
	contractor.MustDo(t, `mutation($j: ID!) { applyToJob(input: {jobId: $j}) { id } }`, map[string]any{"j": jobID}, &app)
	var sent struct {
		SendOffer struct{ Offer struct{ ID string } }
	}
	customer.MustDo(t, `mutation($a: ID!) { sendOffer(input: {applicationId: $a, amount: "50", timeline: "1 day", description: "Hang the door"}) { offer { id } } }`,
		map[string]any{"a": app.ApplyToJob.ID}, &sent)
	return sent.SendOffer.Offer.ID
}

// TestOneObjectFeedsResync: a subscription to one offer, job or completed
// deposit that may have missed a change of it (its topic's RESYNC) is sent
// the object as it is now, so its client needs no refetch of its own.
func TestOneObjectFeedsResync(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer, contractor := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR")
		cc, kc := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken)
		srv.Fund(t, customer.ID, 10000)
		var job struct{ CreateJob struct{ ID string } }
		cc.MustDo(t, `mutation { createJob(input: {title: "Hang a door", description: "An oak door, hinges included", budget: "50"}) { id } }`, nil, &job)
		offerID := offerOnJob(t, cc, kc, job.CreateJob.ID)
		var dep struct {
			Deposit struct {
				Deposit   struct{ ID string }
				SessionID string
			}
		}
		cc.MustDo(t, `mutation { deposit(input: {amount: "20"}) { deposit { id } sessionId } }`, nil, &dep)
		if paid, err := srv.App.Sandbox.PayCheckout(context.Background(), dep.Deposit.SessionID, "4242 4242 4242 4242"); err != nil || !paid.Paid {
			t.Fatalf("pay the deposit: %+v %v", paid, err)
		}

		ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + customer.AccessToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.Subscribe(t, `subscription($id: ID) { offerStatusChanged(offerId: $id) { id status } }`, map[string]any{"id": offerID})
		ws.Subscribe(t, `subscription($id: ID) { jobStatusChanged(jobId: $id) { id status } }`, map[string]any{"id": job.CreateJob.ID})
		ws.Subscribe(t, `subscription($id: ID) { depositCompleted(depositId: $id) { id status } }`, map[string]any{"id": dep.Deposit.Deposit.ID})
		ws.Query(t, `{ me { id } }`, nil) // the subscriptions are live once a later operation answers

		if err := srv.App.Broker.Publish(context.Background(), realtime.Event{Topic: payments.UserTopic(pulid.ID(customer.ID)), Kind: realtime.KindResync}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for range 3 {
			_, r := ws.Next(t)
			var data map[string]struct{ ID, Status string }
			if err := json.Unmarshal(r.Data, &data); err != nil || len(r.Errors) > 0 {
				t.Fatalf("%s %+v %v", r.Data, r.Errors, err)
			}
			for field, o := range data {
				got = append(got, field+" "+o.ID+" "+o.Status)
			}
		}
		sort.Strings(got)
		want := []string{
			"depositCompleted " + dep.Deposit.Deposit.ID + " SUCCEEDED",
			"jobStatusChanged " + job.CreateJob.ID + " OPEN",
			"offerStatusChanged " + offerID + " PENDING",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("after a RESYNC:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		srv.RequireLedgerVerified(t)
	})
}

// TestJobFeedResyncOnlyForParties: a RESYNC sends a subscription to one
// job that job only if the viewer is one of its parties. A contractor
// subscribed to a job before being its party is sent, first, the job as
// their offer's acceptance made it, not the open job on the RESYNC before.
func TestJobFeedResyncOnlyForParties(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	customer, contractor := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR")
	cc, kc := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken)
	srv.Fund(t, customer.ID, 10000)
	var job struct{ CreateJob struct{ ID string } }
	cc.MustDo(t, `mutation { createJob(input: {title: "Hang a door", description: "An oak door, hinges included", budget: "50"}) { id } }`, nil, &job)

	ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + contractor.AccessToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.Subscribe(t, `subscription($id: ID) { jobStatusChanged(jobId: $id) { id status } }`, map[string]any{"id": job.CreateJob.ID})
	ws.Query(t, `{ me { id } }`, nil) // live once a later operation answers
	if err := srv.App.Broker.Publish(context.Background(), realtime.Event{Topic: payments.UserTopic(pulid.ID(contractor.ID)), Kind: realtime.KindResync}); err != nil {
		t.Fatal(err)
	}
	ws.Query(t, `{ me { id } }`, nil)

	offerID := offerOnJob(t, cc, kc, job.CreateJob.ID)
	kc.MustDo(t, `mutation($id: ID!) { acceptOffer(offerId: $id) { contract { id } } }`, map[string]any{"id": offerID}, nil)

	_, r := ws.Next(t)
	if got, want := string(r.Data), `{"jobStatusChanged":{"id":"`+job.CreateJob.ID+`","status":"ASSIGNED"}}`; got != want || len(r.Errors) > 0 {
		t.Fatalf("the contractor's first job message: %s %+v, want %s", got, r.Errors, want)
	}
	srv.RequireLedgerVerified(t)
}

// TestAdminQueuesResync: admins whose topic may have lost events are told
// to refetch every queue.
func TestAdminQueuesResync(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		admin := srv.Admin(t)
		ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + admin.AccessToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.Subscribe(t, `subscription { adminQueueChanged { queue itemId } }`, nil)
		ws.Query(t, `{ me { id } }`, nil) // the subscription is live once a later operation answers
		if err := srv.App.Broker.Publish(context.Background(), realtime.Event{Topic: market.AdminTopic, Kind: realtime.KindResync}); err != nil {
			t.Fatal(err)
		}
		_, r := ws.Next(t)
		if got := string(r.Data); got != `{"adminQueueChanged":{"queue":"ALL","itemId":""}}` {
			t.Fatalf("after a RESYNC of the admins' topic: %s %+v", got, r.Errors)
		}
	})
}
