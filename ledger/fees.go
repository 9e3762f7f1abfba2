package ledger

import (
	"fmt"
	"math/bits"
)

// Rates are the fee rates of a deal in basis points (1/100 of a percent),
// copied onto each offer and contract when it is made.
type Rates struct {
	CustomerBPS   int // platform fee, added on top of the customer's charge
	ContractorBPS int // service fee, taken from the contractor's payout
}

// Split is what a job amount becomes. For a $100.00 job at 500/2000 bps:
// the customer pays TotalCharge $105.00, of which PlatformFee $5.00 goes
// to the platform on accept; on completion ServiceFee $20.00 goes to the
// platform and ContractorPayout $80.00 to the contractor; AdminTotal, the
// platform's whole take, is $25.00.
type Split struct {
	Amount           int64
	PlatformFee      int64
	ServiceFee       int64
	ContractorPayout int64
	TotalCharge      int64
	AdminTotal       int64
}

// JobBudget is the job amount, under the name the API gives it.
func (s Split) JobBudget() int64 { return s.Amount }

// MaxAmount bounds amounts the fee math accepts: with it, every sum in a
// Split fits in an int64 whatever the rates.
const MaxAmount = int64(1) << 60

// Fees splits a job amount (minor units). Each fee rounds half up to the
// minor unit; the payout is the amount minus the service fee, so the parts
// always add up exactly: TotalCharge = Amount + PlatformFee and
// Amount = ServiceFee + ContractorPayout.
func Fees(amount int64, r Rates) (Split, error) {
	if amount < 0 || amount > MaxAmount {
		return Split{}, fmt.Errorf("ledger: amount %d out of range", amount)
	}
	if r.CustomerBPS < 0 || r.CustomerBPS > 10_000 || r.ContractorBPS < 0 || r.ContractorBPS > 10_000 {
		return Split{}, fmt.Errorf("ledger: fee rates %+v out of range 0..10000", r)
	}
	platform := percentOf(amount, r.CustomerBPS)
	service := percentOf(amount, r.ContractorBPS)
	return Split{
		Amount:           amount,
		PlatformFee:      platform,
		ServiceFee:       service,
		ContractorPayout: amount - service,
		TotalCharge:      amount + platform,
		AdminTotal:       platform + service,
	}, nil
}

// percentOf is amount × bps / 10000, rounded half up, computed in 128
// bits so large amounts cannot overflow.
func percentOf(amount int64, bps int) int64 {
	hi, lo := bits.Mul64(uint64(amount), uint64(bps))
	lo, carry := bits.Add64(lo, 5_000, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, 10_000)
	return int64(q)
}

// Settlement is how a disputed escrow ends (docs/money.md, "Disputes: the split"): of the escrow's
// amount A the contractor gets share X, charged the contract's service fee;
// the customer gets A − X back, and the platform fee P taken at acceptance
// is refunded pro rata: the platform keeps half-up(P·X / A). X = A is a
// full release, X = 0 a full refund.
type Settlement struct {
	Share             int64 // X, of the escrow amount
	ServiceFee        int64 // fee(X) at the contract's rate, to revenue
	ContractorPayout  int64 // X − fee(X)
	CustomerRefund    int64 // A − X, from escrow
	PlatformFeeKept   int64 // half-up(P·X / A)
	PlatformFeeRefund int64 // P − kept, from revenue
}

// Settle splits escrow amount a, whose platform fee p was taken at
// acceptance, for contractor share x at service-fee rate contractorBPS.
// The parts add up exactly: ServiceFee + ContractorPayout + CustomerRefund
// = a and PlatformFeeKept + PlatformFeeRefund = p, each part ≥ 0.
func Settle(a, p, x int64, contractorBPS int) (Settlement, error) {
	switch {
	case a <= 0 || a > MaxAmount:
		return Settlement{}, fmt.Errorf("ledger: escrow amount %d out of range", a)
	case p < 0 || p > a: // a platform fee of at most 100% of the amount
		return Settlement{}, fmt.Errorf("ledger: platform fee %d out of range", p)
	case x < 0 || x > a:
		return Settlement{}, fmt.Errorf("ledger: share %d outside 0..%d", x, a)
	case contractorBPS < 0 || contractorBPS > 10_000:
		return Settlement{}, fmt.Errorf("ledger: fee rate %d out of range 0..10000", contractorBPS)
	}
	fee := percentOf(x, contractorBPS)
	kept := proRata(p, x, a)
	return Settlement{
		Share: x, ServiceFee: fee, ContractorPayout: x - fee, CustomerRefund: a - x,
		PlatformFeeKept: kept, PlatformFeeRefund: p - kept,
	}, nil
}

// proRata is p × x / a rounded half up, in 128 bits (x ≤ a, so the
// quotient fits and Div64 cannot overflow).
func proRata(p, x, a int64) int64 {
	hi, lo := bits.Mul64(uint64(p), uint64(x))
	q, r := bits.Div64(hi, lo, uint64(a))
	if r >= uint64(a)-r { // r ≥ a/2, exactly: half rounds up
		q++
	}
	return int64(q)
}
