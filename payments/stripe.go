package payments

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// Stripe is the Gateway to Stripe through stripe-go v76 (API version
// 2023-10-16, pinned by the library).
type Stripe struct {
	api *client.API
}

// NewStripe returns the gateway. apiBase is https://api.stripe.com in
// production and stripe-mock's address in tests.
func NewStripe(secretKey, apiBase string, logger *slog.Logger) *Stripe {
	cfg := &stripe.BackendConfig{
		URL:               stripe.String(apiBase),
		HTTPClient:        &http.Client{Timeout: 30 * time.Second},
		MaxNetworkRetries: stripe.Int64(2), // safe: every POST carries our idempotency key
		LeveledLogger:     leveledLogger{logger},
	}
	api := &client.API{}
	api.Init(secretKey, &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, cfg),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, cfg),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, cfg),
	})
	return &Stripe{api: api}
}

// Sandbox implements Gateway.
func (*Stripe) Sandbox() bool { return false }

// CreateCheckoutSession implements Gateway.
func (s *Stripe) CreateCheckoutSession(ctx context.Context, p CheckoutParams) (*CheckoutSession, error) {
	params := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		ClientReferenceID: stripe.String(p.ClientReferenceID),
		SuccessURL:        stripe.String(p.SuccessURL),
		CancelURL:         stripe.String(p.CancelURL),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripe.String(p.Currency),
				UnitAmount:  stripe.Int64(p.Amount),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String(p.ProductName)},
			},
			Quantity: stripe.Int64(1),
		}},
		PaymentIntentData: &stripe.CheckoutSessionPaymentIntentDataParams{Metadata: p.Metadata},
	}
	params.Metadata = p.Metadata
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	cs, err := s.api.CheckoutSessions.New(params)
	if err != nil {
		return nil, paymentFailed(err)
	}
	return &CheckoutSession{ID: cs.ID, URL: cs.URL}, nil
}

// CreatePaymentIntent implements Gateway.
func (s *Stripe) CreatePaymentIntent(ctx context.Context, p PaymentIntentParams) (*PaymentIntent, error) {
	params := &stripe.PaymentIntentParams{
		Amount:        stripe.Int64(p.Amount),
		Currency:      stripe.String(p.Currency),
		PaymentMethod: stripe.String(p.PaymentMethodID),
		Confirm:       stripe.Bool(true),
		ReturnURL:     stripe.String(p.ReturnURL),
		Description:   stripe.String(p.Description),
	}
	params.Metadata = p.Metadata
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	pi, err := s.api.PaymentIntents.New(params)
	if err != nil {
		return nil, paymentFailed(err)
	}
	return &PaymentIntent{ID: pi.ID, Status: pi.Status, ClientSecret: pi.ClientSecret}, nil
}

// Refund implements Gateway.
func (s *Stripe) Refund(ctx context.Context, p RefundParams) (string, error) {
	params := &stripe.RefundParams{PaymentIntent: stripe.String(p.PaymentIntentID), Amount: stripe.Int64(p.Amount)}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	r, err := s.api.Refunds.New(params)
	if err != nil {
		return "", paymentFailed(err)
	}
	return r.ID, nil
}

// CreateConnectAccount implements Gateway.
func (s *Stripe) CreateConnectAccount(ctx context.Context, p ConnectAccountParams) (string, error) {
	params := &stripe.AccountParams{
		Type:  stripe.String(string(stripe.AccountTypeExpress)),
		Email: stripe.String(p.Email),
		Capabilities: &stripe.AccountCapabilitiesParams{
			Transfers:    &stripe.AccountCapabilitiesTransfersParams{Requested: stripe.Bool(true)},
			CardPayments: &stripe.AccountCapabilitiesCardPaymentsParams{Requested: stripe.Bool(true)},
		},
	}
	params.Metadata = map[string]string{"user_id": p.UserID}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	a, err := s.api.Accounts.New(params)
	if err != nil {
		return "", paymentFailed(err)
	}
	return a.ID, nil
}

// CreateOnboardingLink implements Gateway.
func (s *Stripe) CreateOnboardingLink(ctx context.Context, p OnboardingLinkParams) (*OnboardingLink, error) {
	params := &stripe.AccountLinkParams{
		Account:    stripe.String(p.AccountID),
		RefreshURL: stripe.String(p.RefreshURL),
		ReturnURL:  stripe.String(p.ReturnURL),
		Type:       stripe.String("account_onboarding"),
	}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	l, err := s.api.AccountLinks.New(params)
	if err != nil {
		return nil, paymentFailed(err)
	}
	return &OnboardingLink{URL: l.URL, ExpiresAt: time.Unix(l.ExpiresAt, 0)}, nil
}

// CreateTransfer implements Gateway.
func (s *Stripe) CreateTransfer(ctx context.Context, p TransferParams) (string, error) {
	params := &stripe.TransferParams{
		Amount: stripe.Int64(p.Amount), Currency: stripe.String(p.Currency), Destination: stripe.String(p.Destination),
	}
	params.Metadata = p.Metadata
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	tr, err := s.api.Transfers.New(params)
	if err != nil {
		return "", err // the caller records Stripe's reason on the withdrawal
	}
	return tr.ID, nil
}

// CreateCustomer implements Gateway.
func (s *Stripe) CreateCustomer(ctx context.Context, p CustomerParams) (string, error) {
	params := &stripe.CustomerParams{Email: stripe.String(p.Email), Name: stripe.String(p.Name)}
	params.Metadata = map[string]string{"user_id": p.UserID}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	c, err := s.api.Customers.New(params)
	if err != nil {
		return "", paymentFailed(err)
	}
	return c.ID, nil
}

// CreateFinancialConnectionsSession implements Gateway: permissions
// payment_method and balances, US accounts only (seed 003).
func (s *Stripe) CreateFinancialConnectionsSession(ctx context.Context, key, customerID string) (*FinancialConnectionsSession, error) {
	params := &stripe.FinancialConnectionsSessionParams{
		AccountHolder: &stripe.FinancialConnectionsSessionAccountHolderParams{
			Type: stripe.String("customer"), Customer: stripe.String(customerID),
		},
		Permissions: []*string{stripe.String("payment_method"), stripe.String("balances")},
		Filters:     &stripe.FinancialConnectionsSessionFiltersParams{Countries: []*string{stripe.String("US")}},
	}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	fc, err := s.api.FinancialConnectionsSessions.New(params)
	if err != nil {
		return nil, paymentFailed(err)
	}
	return &FinancialConnectionsSession{SessionID: fc.ID, ClientSecret: fc.ClientSecret}, nil
}

// leveledLogger sends stripe-go's logs to slog. Its one debug message is
// Stripe's whole response body, which holds client secrets, onboarding
// links and customers' emails: it is dropped. The others name requests,
// timings and Stripe's error messages.
type leveledLogger struct{ l *slog.Logger }

func (g leveledLogger) Debugf(string, ...any)          {}
func (g leveledLogger) Infof(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g leveledLogger) Warnf(format string, v ...any)  { g.l.Warn(fmt.Sprintf(format, v...)) }
func (g leveledLogger) Errorf(format string, v ...any) { g.l.Error(fmt.Sprintf(format, v...)) }
