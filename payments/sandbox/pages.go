package sandbox

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/payments"
)

// The sandbox's pages stand in for Stripe's hosted Checkout and the 3-D
// Secure challenge. Each is labelled: no real money moves here.
var pages = template.Must(payments.PageLayout().Parse(`{{define "body"}}
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
{{if .Amount}}<p class="amount">{{.Amount}}</p>{{end}}
{{if eq .Step "card"}}
<form method="post" action="/sandbox/checkout/{{.SessionID}}/pay">
<label>Card number <input name="card" value="4242 4242 4242 4242" autocomplete="off"></label>
<button type="submit">Pay {{.Amount}}</button>{{if .CancelURL}}<a href="{{.CancelURL}}">Cancel</a>{{end}}</form>
<h2>Test cards</h2><table>{{range .Cards}}<tr><td><code>{{.Number}}</code></td><td>{{.Label}}</td></tr>{{end}}</table>
<p>Any future expiry date, any CVC.</p>
{{else if eq .Step "3ds"}}
<p>Your bank asks you to confirm this payment (3-D Secure).</p>
<form method="post" action="/sandbox/checkout/{{.SessionID}}/authenticate">
<button name="outcome" value="approve">Complete authentication</button>
<button name="outcome" value="fail">Fail authentication</button></form>
{{else if eq .Step "onboard"}}
<p>Connected account <code>{{.SessionID}}</code>. Stripe would ask for identity and bank details here.</p>
<form method="post" action="/sandbox/connect/{{.SessionID}}/onboard">
<button name="outcome" value="verified">Finish: verified</button>
<button name="outcome" value="rejected">Finish: rejected</button></form>
<h2>Later, on Stripe's side</h2>
<form method="post" action="/sandbox/connect/{{.SessionID}}/payout">
<p>Pay the account's balance (what withdrawals transferred) out to its bank:</p>
<button name="outcome" value="paid">Bank payout paid</button>
<button name="outcome" value="failed">Bank payout fails (account closed)</button></form>
<form method="post" action="/sandbox/connect/{{.SessionID}}/deauthorize">
<p>The contractor disconnects JobSphere from their Stripe account:</p>
<button type="submit">Disconnect the account</button></form>
{{else if eq .Step "payment"}}
{{if .Message}}<p>{{.Message}}</p>{{end}}
<p>Payment <code>{{.SessionID}}</code>: {{.Refunded}} of it refunded.</p>
{{if .Dispute}}<p>Disputed by the cardholder's bank (a chargeback): dispute <code>{{.Dispute}}</code>, {{.DisputeStatus}}.</p>
{{if .DisputeOpen}}<p>Close the case as the bank would decide it. Won: Stripe reinstates the funds and the fee (<code>charge.dispute.funds_reinstated</code>), then closes it (<code>charge.dispute.closed</code>); lost: it only closes it, and the money stays taken.</p>
<form method="post" action="/sandbox/payments/{{.SessionID}}/dispute/close">
<button name="outcome" value="won">Close the case as won</button>
<button name="outcome" value="lost">Close the case as lost</button></form>
<form method="post" action="/sandbox/payments/{{.SessionID}}/dispute"><button type="submit">Send the dispute's events again</button></form>{{end}}
{{else if .Refundable}}<p>Refund it as you would in Stripe's Dashboard, outside JobSphere: the server hears of it by a signed <code>charge.refunded</code> and takes the money back from the payer's wallet (what the wallet cannot cover, they owe).</p>
<form method="post" action="/sandbox/payments/{{.SessionID}}/refund">
<label>Amount to refund <input name="amount" value="{{.Refundable}}" autocomplete="off"></label>
<button type="submit">Refund in the Dashboard</button></form>
<p>Or dispute it as the cardholder's bank would: <code>charge.dispute.created</code> and <code>charge.dispute.funds_withdrawn</code>, which takes it and a {{.DisputeFee}} dispute fee from the platform's balance.</p>
<form method="post" action="/sandbox/payments/{{.SessionID}}/dispute"><button type="submit">Dispute the payment</button></form>{{end}}
{{else if eq .Step "done"}}
<p>{{.Message}}</p>
{{end}}{{end}}`))

type page struct {
	Sandbox                                                   bool
	Title, Step, SessionID, Amount, CancelURL, Error, Message string
	Refunded, Refundable                                      string // a payment's page; Refundable "" when nothing is left
	Dispute, DisputeStatus, DisputeFee                        string // a payment's page: its dispute, if any
	DisputeOpen                                               bool
	Cards                                                     []struct{ Number, Label string }
}

func (sb *Sandbox) render(w http.ResponseWriter, status int, p page) {
	p.Sandbox = true
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pages.Execute(w, p)
}

func (sb *Sandbox) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong; the payment was not made."
	var appErr *jobsphere.Error
	if errors.As(err, &appErr) {
		msg = appErr.Message
		status = map[jobsphere.Code]int{
			jobsphere.NotFound: http.StatusNotFound, jobsphere.Conflict: http.StatusConflict,
			jobsphere.BadUserInput: http.StatusBadRequest,
		}[appErr.Code]
		if status == 0 {
			status = http.StatusBadRequest
		}
	} else {
		sb.logger.ErrorContext(r.Context(), "sandbox checkout failed", "err", err)
	}
	sb.render(w, status, page{Title: "Payment not made", Step: "done", Error: msg})
}

func (sb *Sandbox) cardList() []struct{ Number, Label string } {
	numbers := []string{"4242424242424242", "4000000000000002", "4000000000000341", "4000000000009995",
		"4000000000000069", "4000000000000127", "4000002760003184", "4000000000000259", "4000000000005423"}
	out := make([]struct{ Number, Label string }, len(numbers))
	for i, n := range numbers {
		out[i].Number = n[0:4] + " " + n[4:8] + " " + n[8:12] + " " + n[12:16]
		out[i].Label = testCards[n].label
	}
	return out
}

// HandleCheckoutPage serves GET /sandbox/checkout/{id}: the amount and a
// card field.
func (sb *Sandbox) HandleCheckoutPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sb.openSession(r.PathValue("id"))
		if err != nil {
			sb.renderError(w, r, err)
			return
		}
		sb.render(w, http.StatusOK, page{Title: "Pay JobSphere", Step: "card", SessionID: s.ID,
			Amount: sb.Amount(s), CancelURL: s.CancelURL, Cards: sb.cardList()})
	})
}

// HandlePay serves POST /sandbox/checkout/{id}/pay with form field card.
func (sb *Sandbox) HandlePay() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := sb.PayCheckout(r.Context(), r.PathValue("id"), r.FormValue("card"))
		sb.respondCheckout(w, r, out, err)
	})
}

// HandleAuthenticateCheckout serves POST /sandbox/checkout/{id}/authenticate
// with form field outcome=approve|fail.
func (sb *Sandbox) HandleAuthenticateCheckout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := sb.AuthenticateCheckout(r.Context(), r.PathValue("id"), r.FormValue("outcome") != "fail")
		sb.respondCheckout(w, r, out, err)
	})
}

func (sb *Sandbox) respondCheckout(w http.ResponseWriter, r *http.Request, out *CheckoutOutcome, err error) {
	switch {
	case err != nil:
		sb.renderError(w, r, err)
	case out.Paid:
		http.Redirect(w, r, out.RedirectURL, http.StatusSeeOther)
	case out.NeedsAction:
		sb.render(w, http.StatusOK, page{Title: "Confirm your payment", Step: "3ds", SessionID: out.Session.ID, Amount: sb.Amount(out.Session)})
	default:
		sb.render(w, http.StatusPaymentRequired, page{Title: "Pay JobSphere", Step: "card", SessionID: out.Session.ID,
			Amount: sb.Amount(out.Session), CancelURL: out.Session.CancelURL, Error: out.Declined, Cards: sb.cardList()})
	}
}

// HandleAuthenticateIntent serves POST /sandbox/payment_intents/{id}/authenticate
// (outcome=approve|fail): what Stripe.handleNextAction does on a device.
func (sb *Sandbox) HandleAuthenticateIntent() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		approve := r.FormValue("outcome") != "fail"
		w.Header().Set("Content-Type", "application/json")
		if err := sb.AuthenticateIntent(r.Context(), r.PathValue("id"), approve); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		status := "succeeded"
		if !approve {
			status = "requires_payment_method"
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"id": r.PathValue("id"), "status": status})
	})
}

// HandleOnboardPage serves GET /sandbox/connect/{accountId}/onboard, the
// stand-in for Stripe's Express onboarding.
func (sb *Sandbox) HandleOnboardPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb.render(w, http.StatusOK, page{Title: "Set up payouts", Step: "onboard", SessionID: r.PathValue("accountId")})
	})
}

// HandleOnboard serves POST /sandbox/connect/{accountId}/onboard with form
// field outcome=verified|rejected.
func (sb *Sandbox) HandleOnboard() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outcome := r.FormValue("outcome")
		if outcome != "verified" && outcome != "rejected" {
			sb.renderError(w, r, jobsphere.InvalidInput(jobsphere.FieldError{Field: "outcome", Message: "outcome must be verified or rejected"}))
			return
		}
		if err := sb.Onboard(r.Context(), r.PathValue("accountId"), outcome == "verified"); err != nil {
			sb.renderError(w, r, err)
			return
		}
		sb.render(w, http.StatusOK, page{Title: "Set up payouts", Step: "done",
			Message: "Onboarding " + outcome + ". You can return to the app."})
	})
}

// HandlePaymentPage serves GET /sandbox/payments/{paymentIntentId}: a
// payment the sandbox took (a deposit's or a job Checkout's
// stripePaymentIntentId), with a refund form.
func (sb *Sandbox) HandlePaymentPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch, err := sb.Charge(r.PathValue("paymentIntentId"))
		sb.respondPayment(w, r, ch, err, "")
	})
}

// HandleDashboardRefund serves POST /sandbox/payments/{paymentIntentId}/refund
// with form field amount (empty: all that is left): a refund made in
// Stripe's Dashboard.
func (sb *Sandbox) HandleDashboardRefund() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var amount int64
		if a := r.FormValue("amount"); a != "" {
			var err error
			if amount, err = sb.currency.Parse(a); err != nil {
				sb.renderError(w, r, jobsphere.InvalidInput(jobsphere.FieldError{Field: "amount", Message: "Amount must be like 12.34"}))
				return
			}
		}
		ch, err := sb.RefundCharge(r.Context(), r.PathValue("paymentIntentId"), amount)
		sb.respondPayment(w, r, ch, err, "Refunded. The payer's wallet shows it.")
	})
}

// respondPayment shows the payment's page after what was done to it
// (msg), or why it could not be done.
func (sb *Sandbox) respondPayment(w http.ResponseWriter, r *http.Request, ch sandboxCharge, err error, msg string) {
	if err != nil {
		sb.renderError(w, r, err)
		return
	}
	sb.render(w, http.StatusOK, sb.paymentPage(ch, msg))
}

func (sb *Sandbox) paymentPage(ch sandboxCharge, msg string) page {
	p := page{Title: "Payment", Step: "payment", SessionID: ch.PaymentIntentID, Amount: sb.currency.Display(ch.Amount),
		Refunded: sb.currency.Display(ch.Refunded), Message: msg, DisputeFee: sb.currency.Display(DisputeFee)}
	if left := ch.Amount - ch.Refunded; left > 0 {
		p.Refundable = sb.currency.Format(left)
	}
	if d := ch.Dispute; d != nil {
		p.Dispute, p.DisputeStatus, p.DisputeOpen = d.ID, d.Status, d.Status == "needs_response"
	}
	return p
}

// HandleDispute serves POST /sandbox/payments/{paymentIntentId}/dispute:
// the cardholder's bank disputes the payment (DisputeCharge).
func (sb *Sandbox) HandleDispute() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch, err := sb.DisputeCharge(r.Context(), r.PathValue("paymentIntentId"))
		sb.respondPayment(w, r, ch, err, "Disputed. The payer's wallet shows the chargeback.")
	})
}

// HandleCloseDispute serves POST /sandbox/payments/{paymentIntentId}/dispute/close
// with form field outcome=won|lost: the bank decides the case (CloseDispute).
func (sb *Sandbox) HandleCloseDispute() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outcome := r.FormValue("outcome")
		if outcome != "won" && outcome != "lost" {
			sb.renderError(w, r, jobsphere.InvalidInput(jobsphere.FieldError{Field: "outcome", Message: "outcome must be won or lost"}))
			return
		}
		ch, err := sb.CloseDispute(r.Context(), r.PathValue("paymentIntentId"), outcome == "won")
		sb.respondPayment(w, r, ch, err, "The case is closed: "+outcome+".")
	})
}

// HandlePayout serves POST /sandbox/connect/{accountId}/payout with form
// field outcome=paid|failed: the account's bank payout (Payout).
func (sb *Sandbox) HandlePayout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outcome := r.FormValue("outcome")
		if outcome != "paid" && outcome != "failed" {
			sb.renderError(w, r, jobsphere.InvalidInput(jobsphere.FieldError{Field: "outcome", Message: "outcome must be paid or failed"}))
			return
		}
		sb.respondConnect(w, r, sb.Payout(r.Context(), r.PathValue("accountId"), outcome == "failed"), "Bank payout "+outcome+".")
	})
}

// HandleDeauthorize serves POST /sandbox/connect/{accountId}/deauthorize:
// the account disconnects the platform (Deauthorize).
func (sb *Sandbox) HandleDeauthorize() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb.respondConnect(w, r, sb.Deauthorize(r.Context(), r.PathValue("accountId")),
			"Account disconnected. In the app, start onboarding again to connect a new account.")
	})
}

func (sb *Sandbox) respondConnect(w http.ResponseWriter, r *http.Request, err error, done string) {
	if err != nil {
		sb.renderError(w, r, err)
		return
	}
	sb.render(w, http.StatusOK, page{Title: "Connected account", Step: "done", Message: done})
}
