package servertest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// WebhookSecret is the signing secret of test servers set up for Stripe
// (see StripeEnv); sandbox servers sign with their own.
const WebhookSecret = "whsec_test_secret"

// StripeEvent builds a Stripe-shaped event of the given type around an
// object, with the API version stripe-go v76 expects.
func StripeEvent(t testing.TB, id string, typ stripe.EventType, object map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(object)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"type": typ, "livemode": false, "data": map[string]any{"object": json.RawMessage(data)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

// Sign signs a payload as Stripe would, at the given time (zero: now).
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

// PostWebhook delivers a payload with a Stripe-Signature header to the
// webhook route and returns the HTTP status.
func (s *Server) PostWebhook(t testing.TB, path string, payload []byte, signature string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
