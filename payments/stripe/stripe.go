// Package stripe is the Stripe adapter: the payments.Gateway on stripe-go
// v76 (API version 2023-10-16, pinned by the library), and the reading of
// Stripe's webhook deliveries (signature checked) into payments.Event. It
// is the one package outside tests and the load and chaos tools that
// imports stripe-go; what Stripe's errors mean for us is decided here.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/payments"
)

// Gateway is the payments.Gateway to Stripe.
type Gateway struct {
	api *client.API
}

// NewGateway returns the gateway. apiBase is https://api.stripego.com in
// production and stripe-mock's address in tests.
func NewGateway(secretKey, apiBase string, logger *slog.Logger) *Gateway {
	cfg := &stripego.BackendConfig{
		URL:               stripego.String(apiBase),
		HTTPClient:        &http.Client{Timeout: 30 * time.Second},
		MaxNetworkRetries: stripego.Int64(2), // safe: every POST carries our idempotency key
		LeveledLogger:     leveledLogger{logger},
	}
	api := &client.API{}
	api.Init(secretKey, &stripego.Backends{
		API:     stripego.GetBackendWithConfig(stripego.APIBackend, cfg),
		Connect: stripego.GetBackendWithConfig(stripego.ConnectBackend, cfg),
		Uploads: stripego.GetBackendWithConfig(stripego.UploadsBackend, cfg),
	})
	return &Gateway{api: api}
}

// Sandbox implements payments.Gateway.
func (*Gateway) Sandbox() bool { return false }

// CreateCheckoutSession implements payments.Gateway.
func (s *Gateway) CreateCheckoutSession(ctx context.Context, p payments.CheckoutParams) (*payments.CheckoutSession, error) {
	params := &stripego.CheckoutSessionParams{
		Mode:              stripego.String(string(stripego.CheckoutSessionModePayment)),
		ClientReferenceID: stripego.String(p.ClientReferenceID),
		SuccessURL:        stripego.String(p.SuccessURL),
		CancelURL:         stripego.String(p.CancelURL),
		LineItems: []*stripego.CheckoutSessionLineItemParams{{
			PriceData: &stripego.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripego.String(p.Currency),
				UnitAmount:  stripego.Int64(p.Amount),
				ProductData: &stripego.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripego.String(p.ProductName)},
			},
			Quantity: stripego.Int64(1),
		}},
		PaymentIntentData: &stripego.CheckoutSessionPaymentIntentDataParams{Metadata: p.Metadata},
	}
	params.Metadata = p.Metadata
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	cs, err := s.api.CheckoutSessions.New(params)
	if err != nil {
		return nil, paymentFailed(err)
	}
	return &payments.CheckoutSession{ID: cs.ID, URL: cs.URL}, nil
}

// CreatePaymentIntent implements payments.Gateway.
func (s *Gateway) CreatePaymentIntent(ctx context.Context, p payments.PaymentIntentParams) (*payments.PaymentIntent, error) {
	params := &stripego.PaymentIntentParams{
		Amount:        stripego.Int64(p.Amount),
		Currency:      stripego.String(p.Currency),
		PaymentMethod: stripego.String(p.PaymentMethodID),
		Confirm:       stripego.Bool(true),
		ReturnURL:     stripego.String(p.ReturnURL),
		Description:   stripego.String(p.Description),
	}
	params.Metadata = p.Metadata
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	pi, err := s.api.PaymentIntents.New(params)
	if err != nil {
		return nil, paymentFailed(err)
	}
	return &payments.PaymentIntent{ID: pi.ID, ClientSecret: pi.ClientSecret,
		RequiresAction: pi.Status == stripego.PaymentIntentStatusRequiresAction}, nil
}

// Refund implements payments.Gateway.
func (s *Gateway) Refund(ctx context.Context, p payments.RefundParams) (string, error) {
	params := &stripego.RefundParams{PaymentIntent: stripego.String(p.PaymentIntentID), Amount: stripego.Int64(p.Amount)}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	r, err := s.api.Refunds.New(params)
	var se *stripego.Error
	if errors.As(err, &se) && se.Code == stripego.ErrorCodeChargeAlreadyRefunded {
		return "", nil // refunded before (by this key or by hand): nothing is owed
	}
	if err != nil {
		return "", paymentFailed(err)
	}
	return r.ID, nil
}

// CreateConnectAccount implements payments.Gateway.
func (s *Gateway) CreateConnectAccount(ctx context.Context, p payments.ConnectAccountParams) (string, error) {
	params := &stripego.AccountParams{
		Type:  stripego.String(string(stripego.AccountTypeExpress)),
		Email: stripego.String(p.Email),
		Capabilities: &stripego.AccountCapabilitiesParams{
			Transfers:    &stripego.AccountCapabilitiesTransfersParams{Requested: stripego.Bool(true)},
			CardPayments: &stripego.AccountCapabilitiesCardPaymentsParams{Requested: stripego.Bool(true)},
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

// CreateOnboardingLink implements payments.Gateway.
func (s *Gateway) CreateOnboardingLink(ctx context.Context, p payments.OnboardingLinkParams) (*payments.OnboardingLink, error) {
	params := &stripego.AccountLinkParams{
		Account:    stripego.String(p.AccountID),
		RefreshURL: stripego.String(p.RefreshURL),
		ReturnURL:  stripego.String(p.ReturnURL),
		Type:       stripego.String("account_onboarding"),
	}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	l, err := s.api.AccountLinks.New(params)
	if err != nil {
		return nil, paymentFailed(err)
	}
	return &payments.OnboardingLink{URL: l.URL, ExpiresAt: time.Unix(l.ExpiresAt, 0)}, nil
}

// CreateTransfer implements payments.Gateway.
func (s *Gateway) CreateTransfer(ctx context.Context, p payments.TransferParams) (string, error) {
	params := &stripego.TransferParams{
		Amount: stripego.Int64(p.Amount), Currency: stripego.String(p.Currency), Destination: stripego.String(p.Destination),
	}
	params.Metadata = p.Metadata
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	tr, err := s.api.Transfers.New(params)
	if err != nil {
		return "", requestFailed(err) // a refusal's reason is recorded on the withdrawal
	}
	return tr.ID, nil
}

// CreateCustomer implements payments.Gateway.
func (s *Gateway) CreateCustomer(ctx context.Context, p payments.CustomerParams) (string, error) {
	params := &stripego.CustomerParams{Email: stripego.String(p.Email), Name: stripego.String(p.Name)}
	params.Metadata = map[string]string{"user_id": p.UserID}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	c, err := s.api.Customers.New(params)
	if err != nil {
		return "", paymentFailed(err)
	}
	return c.ID, nil
}

// CreateFinancialConnectionsSession implements payments.Gateway: permissions
// payment_method and balances, US accounts only (seed 003).
func (s *Gateway) CreateFinancialConnectionsSession(ctx context.Context, key, customerID string) (*payments.FinancialConnectionsSession, error) {
	params := &stripego.FinancialConnectionsSessionParams{
		AccountHolder: &stripego.FinancialConnectionsSessionAccountHolderParams{
			Type: stripego.String("customer"), Customer: stripego.String(customerID),
		},
		Permissions: []*string{stripego.String("payment_method"), stripego.String("balances")},
		Filters:     &stripego.FinancialConnectionsSessionFiltersParams{Countries: []*string{stripego.String("US")}},
	}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	fc, err := s.api.FinancialConnectionsSessions.New(params)
	if err != nil {
		return nil, paymentFailed(err)
	}
	return &payments.FinancialConnectionsSession{SessionID: fc.ID, ClientSecret: fc.ClientSecret}, nil
}

// refusal reports whether Stripe refused a request, so that surely nothing
// was made: a 4xx answer, but not a rate limit nor an idempotency conflict
// (a request under that key may have been made). Timeouts and Stripe's own
// failures may hide a request carried out.
func refusal(se *stripego.Error) bool {
	return se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
		se.HTTPStatusCode != http.StatusTooManyRequests && se.Type != stripego.ErrorTypeIdempotency
}

// requestFailed names a failed request Stripe's way, as a
// *payments.RefusedError when Stripe refused it.
func requestFailed(err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripe: %w", err)
	}
	named := fmt.Errorf("stripe %s (%s): %w", se.Type, se.Code, err)
	if refusal(se) {
		return &payments.RefusedError{Message: se.Msg, Err: named}
	}
	return named
}

// paymentFailed turns a Stripe error into the client's error: card errors
// keep Stripe's codes (extensions.stripeCode, declineCode) with the seeds'
// message; anything else is an outage, not the customer's fault.
func paymentFailed(err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return requestFailed(err)
	}
	if se.Type == stripego.ErrorTypeIdempotency {
		return jobsphere.Errorf(jobsphere.Conflict, "This request was already made with different details")
	}
	if se.Type == stripego.ErrorTypeInvalidRequest && se.Param == "payment_method" {
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "paymentMethodId", Message: "No such payment method"})
	}
	if se.Type != stripego.ErrorTypeCard && se.Code != stripego.ErrorCodeRateLimit {
		return requestFailed(err)
	}
	return payments.CardDeclined(string(se.Code), string(se.DeclineCode))
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

// BalanceTransactions implements payments.Gateway: Stripe's list, every
// page (stripe-go's auto-pagination), with each source expanded for the
// payment or transfer it belongs to.
func (s *Gateway) BalanceTransactions(ctx context.Context, since time.Time, currency string) ([]payments.BalanceTransaction, error) {
	params := &stripego.BalanceTransactionListParams{
		CreatedRange: &stripego.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
		Currency:     stripego.String(currency),
	}
	params.Limit = stripego.Int64(100)
	params.AddExpand("data.source")
	params.Context = ctx
	var out []payments.BalanceTransaction
	it := s.api.BalanceTransactions.List(params)
	for it.Next() {
		out = append(out, balanceTransaction(it.BalanceTransaction()))
	}
	if err := it.Err(); err != nil {
		return nil, requestFailed(err)
	}
	// Stripe lists newest first.
	slices.Reverse(out)
	return out, nil
}

// balanceTransaction is a Stripe balance transaction in our terms.
func balanceTransaction(bt *stripego.BalanceTransaction) payments.BalanceTransaction {
	out := payments.BalanceTransaction{
		ID: bt.ID, Type: string(bt.Type), Amount: bt.Amount, Fee: bt.Fee, Net: bt.Net, Created: time.Unix(bt.Created, 0),
	}
	src := bt.Source
	if src == nil {
		return out
	}
	out.SourceID = src.ID
	switch {
	case src.Charge != nil && src.Charge.PaymentIntent != nil:
		out.PaymentIntentID = src.Charge.PaymentIntent.ID
	case src.Refund != nil && src.Refund.PaymentIntent != nil:
		out.PaymentIntentID = src.Refund.PaymentIntent.ID
	case src.Dispute != nil && src.Dispute.PaymentIntent != nil:
		out.PaymentIntentID = src.Dispute.PaymentIntent.ID
	case src.Transfer != nil:
		out.TransferID = src.Transfer.ID
	case src.TransferReversal != nil && src.TransferReversal.Transfer != nil:
		out.TransferID = src.TransferReversal.Transfer.ID
	}
	return out
}

// Balance implements payments.Gateway: available and pending funds in
// currency.
func (s *Gateway) Balance(ctx context.Context, currency string) (*payments.PlatformBalance, error) {
	params := &stripego.BalanceParams{}
	params.Context = ctx
	b, err := s.api.Balance.Get(params)
	if err != nil {
		return nil, requestFailed(err)
	}
	return &payments.PlatformBalance{Available: sumIn(b.Available, currency), Pending: sumIn(b.Pending, currency)}, nil
}

// sumIn is what amounts hold in currency.
func sumIn(amounts []*stripego.Amount, currency string) int64 {
	var sum int64
	for _, a := range amounts {
		if strings.EqualFold(string(a.Currency), currency) {
			sum += a.Amount
		}
	}
	return sum
}
