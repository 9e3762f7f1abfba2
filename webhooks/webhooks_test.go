package webhooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
	"modernc.org/sqlite"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/payments"
	stripeadapter "github.com/jobsphere/jobsphere/payments/stripe"
)

const testSecret = "whsec_webhooks_test"

// ent knows SQLite by its dialect's name, sqlite3; the pure-Go driver
// registers itself as sqlite.
func init() { sql.Register(dialect.SQLite, &sqlite.Driver{}) }

// fakeProcessor handles payment_intent.succeeded, ignores every other
// type, and fails when told to.
type fakeProcessor struct{ fail bool }

func (p *fakeProcessor) Handles(ev payments.Event) bool {
	return ev.Type == payments.PaymentIntentSucceeded
}

func (p *fakeProcessor) HandleEvent(context.Context, *ent.Tx, payments.Event) error {
	if p.fail {
		return errors.New("boom")
	}
	return nil
}

type outcome struct {
	typ     string
	outcome Outcome
}

func event(t *testing.T, id string, typ stripe.EventType) []byte {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"type": typ, "livemode": false, "data": map[string]any{"object": map[string]any{"id": "pi_1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

func sign(payload []byte, secret string) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret}).Header
}

func TestReceiveReportsOutcomes(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		testReceiveReportsOutcomes(t, dbtest.Open(t, db), db == dbtest.Postgres)
	})
}

func testReceiveReportsOutcomes(t *testing.T, client *ent.Client, postgres bool) {
	proc := &fakeProcessor{}
	h := New(client, stripeadapter.NewVerifier(testSecret), proc, slog.New(slog.NewTextHandler(io.Discard, nil)), postgres)
	var (
		mu  sync.Mutex
		got []outcome
	)
	h.OnOutcome(func(_ context.Context, typ string, o Outcome) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, outcome{typ, o})
	})
	ctx := context.Background()
	succeeded := event(t, "evt_1", stripe.EventTypePaymentIntentSucceeded)
	other := event(t, "evt_2", stripe.EventTypeCustomerCreated)
	failing := event(t, "evt_3", stripe.EventTypePaymentIntentSucceeded)

	steps := []struct {
		payload   []byte
		signature string
		fail      bool
		wantErr   bool
	}{
		{succeeded, sign(succeeded, testSecret), false, false},
		{succeeded, sign(succeeded, testSecret), false, false},
		{other, sign(other, testSecret), false, false},
		{other, sign(other, "whsec_wrong"), false, true},
		{other, "", false, true},
		{failing, sign(failing, testSecret), true, true},
	}
	for i, s := range steps {
		proc.fail = s.fail
		if err := h.Receive(ctx, s.payload, s.signature); (err != nil) != s.wantErr {
			t.Fatalf("step %d: err = %v, want error %v", i, err, s.wantErr)
		}
	}
	want := []outcome{
		{"payment_intent.succeeded", OutcomeProcessed},
		{"payment_intent.succeeded", OutcomeDuplicate},
		{"customer.created", OutcomeIgnored},
		{UnverifiedType, OutcomeBadSignature},
		{UnverifiedType, OutcomeBadSignature},
		{"payment_intent.succeeded", OutcomeFailed},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("outcome %d = %v, want %v", i, got[i], want[i])
		}
	}
}
