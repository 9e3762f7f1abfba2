package servertest

import (
	"context"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/payments/stripe/stripemock"
)

// StripeMock starts stripe-mock (see package stripemock) for one test and
// returns its base URL, http://127.0.0.1:PORT, for STRIPE_API_BASE. The
// binary is built once per test process; each test gets its own process,
// killed when the test ends.
func StripeMock(t testing.TB) string {
	t.Helper()
	m, err := stripemock.Start(context.Background(), stripemock.Options{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m.URL
}

// StripeEnv configures a test server's environment for the Stripe gateway
// against apiBase (usually StripeMock's URL, or an httptest server that
// answers like Stripe).
func StripeEnv(env map[string]string, apiBase string) {
	env["STRIPE_SECRET_KEY"] = StripeTestSecretKey
	env["STRIPE_PUBLISHABLE_KEY"] = "pk_test_123"
	env["STRIPE_WEBHOOK_SECRET"] = WebhookSecret
	env["STRIPE_API_BASE"] = apiBase
}

// StripeTestSecretKey is the secret key StripeEnv configures; stripe-mock
// accepts any sk_test_ key. Webhooks are signed with WebhookSecret.
const StripeTestSecretKey = stripemock.SecretKey
