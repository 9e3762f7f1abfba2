package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const submitWorkMutation = `mutation($in: SubmitWorkInput!) { submitWork(input: $in) {
	id status deliveredAt autoReleaseAt delivery { note deliveredAt attachments { id mediaUrl } } } }`

type deliveredJob struct {
	ID, Status                 string
	DeliveredAt, AutoReleaseAt *time.Time
	Delivery                   *struct {
		Note        *string
		DeliveredAt time.Time
		Attachments []struct{ ID, MediaURL string }
	}
}

// TestSubmitWorkOverGraphQL: the contractor delivers with an upload of
// theirs, the customer is pushed the job with its delivery, refusals have
// the documented codes; the delivered job left alone is reminded over the
// same subscription and completed by the sweep, the ledger verified.
func TestSubmitWorkOverGraphQL(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		env["REQUIRE_RELEASE_APPROVAL"] = "false"
		srv := servertest.Start(t, env)
		customer, contractor, other := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Register(t, "CONTRACTOR")
		cc, kc, oc := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken), srv.Client(other.AccessToken)
		srv.Fund(t, customer.ID, 10500)

		var created struct{ CreateJob struct{ ID string } }
		cc.MustDo(t, `mutation { createJob(input: {title: "Fix the sink", description: "A leaking kitchen sink", budget: "100"}) { id } }`, nil, &created)
		jobID := created.CreateJob.ID
		var app struct{ ApplyToJob struct{ ID string } }
		kc.MustDo(t, `mutation($id: ID!) { applyToJob(input: {jobId: $id}) { id } }`, map[string]any{"id": jobID}, &app)
		var sent struct {
			SendOffer struct{ Offer struct{ ID string } }
		}
		cc.MustDo(t, `mutation($id: ID!) { sendOffer(input: {applicationId: $id, amount: "100", timeline: "7 days", description: "Replace the trap"}) { offer { id } } }`,
			map[string]any{"id": app.ApplyToJob.ID}, &sent)
		kc.MustDo(t, `mutation($id: ID!) { acceptOffer(offerId: $id) { offer { id } } }`, map[string]any{"id": sent.SendOffer.Offer.ID}, nil)

		upload := func(c *servertest.Client) string {
			t.Helper()
			r := uploadGraphQL(t, c, "after.png", pngBytes(t, 8))
			var out struct{ UploadMedia struct{ ID string } }
			if err := json.Unmarshal(r.Data, &out); err != nil || !strings.HasPrefix(out.UploadMedia.ID, "med_") {
				t.Fatalf("upload: %s %s", r.Data, r.ErrorSummary())
			}
			return out.UploadMedia.ID
		}
		mine, theirs := upload(kc), upload(oc)
		submit := func(c *servertest.Client, note string, media ...string) servertest.Response {
			return c.Do(t, submitWorkMutation, map[string]any{"in": map[string]any{"jobId": jobID, "note": note, "mediaIds": media}})
		}

		// Not yet IN_PROGRESS.
		if e := submit(kc, "Done", mine).RequireError(t, "CONFLICT"); !strings.Contains(e.Message, "Job is ASSIGNED") {
			t.Errorf("submitWork on an ASSIGNED job: %q, want it to name ASSIGNED", e.Message)
		}
		ws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + customer.AccessToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.Subscribe(t, `subscription($id: ID) { jobStatusChanged(jobId: $id) { id status deliveredAt autoReleaseAt delivery { note attachments { id } } } }`,
			map[string]any{"id": jobID})
		waitFor(t, func() bool { return srv.App.Broker.Subscriptions() == 1 }) // gqlgen subscribes in a goroutine of its own
		next := func() deliveredJob {
			t.Helper()
			_, r := ws.Next(t)
			var out struct{ JobStatusChanged deliveredJob }
			if err := json.Unmarshal(r.Data, &out); err != nil || len(r.Errors) > 0 {
				t.Fatalf("jobStatusChanged: %s %s", r.Data, r.ErrorSummary())
			}
			return out.JobStatusChanged
		}

		kc.MustDo(t, `mutation($id: ID!) { updateJobStatus(id: $id, status: IN_PROGRESS) { status } }`, map[string]any{"id": jobID}, nil)
		if pushed := next(); pushed.Status != "IN_PROGRESS" {
			t.Fatalf("updateJobStatus pushed %+v", pushed)
		}
		submit(oc, "Done").RequireError(t, "FORBIDDEN")
		submit(cc, "Done").RequireError(t, "FORBIDDEN")
		for what, r := range map[string]servertest.Response{
			"a note over 5000 characters": submit(kc, strings.Repeat("é", 5001)),
			"someone else's upload":       submit(kc, "Done", mine, theirs),
			"an unknown media id":         submit(kc, "Done", string(pulid.New("med"))),
		} {
			e := r.RequireError(t, "BAD_USER_INPUT")
			if fs := e.Fields(); len(fs) != 1 || (fs[0].Field != "note" && fs[0].Field != "mediaIds") {
				t.Errorf("%s: fields %v", what, fs)
			}
		}

		var got struct{ SubmitWork deliveredJob }
		kc.MustDo(t, submitWorkMutation, map[string]any{"in": map[string]any{"jobId": jobID, "note": "Replaced the trap.", "mediaIds": []string{mine}}}, &got)
		j := got.SubmitWork
		if j.Status != "IN_PROGRESS" || j.DeliveredAt == nil || j.AutoReleaseAt == nil || !j.AutoReleaseAt.Equal(j.DeliveredAt.AddDate(0, 0, 14)) ||
			j.Delivery == nil || j.Delivery.Note == nil || *j.Delivery.Note != "Replaced the trap." ||
			len(j.Delivery.Attachments) != 1 || j.Delivery.Attachments[0].ID != mine {
			t.Fatalf("submitWork: %+v", j)
		}
		if pushed := next(); pushed.ID != jobID || pushed.DeliveredAt == nil || pushed.Delivery == nil || len(pushed.Delivery.Attachments) != 1 {
			t.Errorf("the customer was pushed %+v, want the delivered job", pushed)
		}
		var seen struct{ Job deliveredJob }
		oc.MustDo(t, `query($id: ID!) { job(id: $id) { id deliveredAt delivery { note } } }`, map[string]any{"id": jobID}, &seen)
		if seen.Job.DeliveredAt == nil || seen.Job.Delivery != nil {
			t.Errorf("another contractor sees %+v, want deliveredAt and no delivery", seen.Job)
		}
		srv.RequireLedgerVerified(t)

		// Fourteen days on: the server's own sweep reminds the customer
		// (over jobStatusChanged), then completes and pays the job.
		m := srv.App.Market
		later := func(d time.Duration) func() time.Time { return func() time.Time { return j.DeliveredAt.Add(d) } }
		m.SetClock(later(12 * 24 * time.Hour))
		if n, err := m.RemindAutoReleases(t.Context()); n != 1 || err != nil {
			t.Fatalf("reminders: %d, %v", n, err)
		}
		if pushed := next(); pushed.ID != jobID || pushed.Status != "IN_PROGRESS" {
			t.Errorf("reminder pushed %+v", pushed)
		}
		m.SetClock(later(14 * 24 * time.Hour))
		if n, err := m.AutoRelease(t.Context()); n != 1 || err != nil {
			t.Fatalf("auto-release: %d, %v", n, err)
		}
		if pushed := next(); pushed.Status != "COMPLETED" {
			t.Errorf("auto-release pushed %+v, want the job COMPLETED", pushed)
		}
		m.SetClock(time.Now)
		if w := walletOf(t, kc); w.Wallet.Balance != "80.00" {
			t.Errorf("contractor's wallet after the auto-release: %+v", w)
		}
		srv.RequireLedgerVerified(t)
	})
}
