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
