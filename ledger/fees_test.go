package ledger

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

var defaultRates = Rates{CustomerBPS: 500, ContractorBPS: 2000}

func TestFeeTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		amount int64
		rates  Rates
		want   Split
	}{
		{"$100", 10000, defaultRates, Split{10000, 500, 2000, 8000, 10500, 2500}},
		{"$10.01: 50.05 rounds up, 200.2 down", 1001, defaultRates, Split{1001, 50, 200, 801, 1051, 250}},
		{"$10.10: half a cent rounds up", 1010, defaultRates, Split{1010, 51, 202, 808, 1061, 253}},
		{"$33.33", 3333, defaultRates, Split{3333, 167, 667, 2666, 3500, 834}},
		{"$9,999.99", 999999, defaultRates, Split{999999, 50000, 200000, 799999, 1049999, 250000}},
		{"₹500.00 in paise", 50000, defaultRates, Split{50000, 2500, 10000, 40000, 52500, 12500}},
		{"₹0.09 in paise", 9, defaultRates, Split{9, 0, 2, 7, 9, 2}},
		{"no fees", 12345, Rates{}, Split{12345, 0, 0, 12345, 12345, 0}},
		{"all fees", 12345, Rates{10000, 10000}, Split{12345, 12345, 12345, 0, 24690, 24690}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Fees(tc.amount, tc.rates)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("Fees(%d) = %+v, want %+v", tc.amount, got, tc.want)
			}
		})
	}
}

// TestFeeSplitsSumExactly checks the invariants over a sweep of amounts,
// odd cents included.
func TestFeeSplitsSumExactly(t *testing.T) {
	for amount := int64(0); amount <= 1_000_000; amount += 37 {
		s, err := Fees(amount, defaultRates)
		if err != nil {
			t.Fatal(err)
		}
		if s.ServiceFee+s.ContractorPayout != amount || s.TotalCharge != amount+s.PlatformFee ||
			s.AdminTotal != s.PlatformFee+s.ServiceFee || s.TotalCharge != s.AdminTotal+s.ContractorPayout {
			t.Fatalf("split of %d does not add up: %+v", amount, s)
		}
		// Half up: the fee is within half a minor unit of the exact value.
		if exact2 := amount * 500 * 2 / 10000; abs(s.PlatformFee*2-exact2) > 1 {
			t.Fatalf("platform fee of %d: %d", amount, s.PlatformFee)
		}
	}
	if _, err := Fees(MaxAmount, Rates{10000, 10000}); err != nil {
		t.Fatalf("largest amount: %v", err)
	}
	if _, err := Fees(-1, defaultRates); err == nil {
		t.Fatal("negative amount accepted")
	}
	if _, err := Fees(100, Rates{CustomerBPS: 10001}); err == nil {
		t.Fatal("rate over 100% accepted")
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestSettleExamples(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, p, x int64
		want    Settlement
	}{
		// docs/money.md's $100 job settled at $60: contractor +$48, service fee
		// $12, customer +$40 from escrow and +$2 of the platform fee.
		{"$100 at $60", 10000, 500, 6000, Settlement{6000, 1200, 4800, 4000, 300, 200}},
		{"full release", 10000, 500, 10000, Settlement{10000, 2000, 8000, 0, 500, 0}},
		{"full refund", 10000, 500, 0, Settlement{0, 0, 0, 10000, 0, 500}},
		{"half a cent of the fee rounds up", 3, 1, 2, Settlement{2, 0, 2, 1, 1, 0}},
		{"a third", 3, 2, 1, Settlement{1, 0, 1, 2, 1, 1}},
	} {
		got, err := Settle(tc.a, tc.p, tc.x, 2000)
		if err != nil || got != tc.want {
			t.Errorf("%s: Settle(%d, %d, %d) = %+v, %v; want %+v", tc.name, tc.a, tc.p, tc.x, got, err, tc.want)
		}
	}
	for _, bad := range [][3]int64{{0, 0, 0}, {100, 5, 101}, {100, 5, -1}, {100, -1, 50}, {MaxAmount + 1, 0, 0}} {
		if _, err := Settle(bad[0], bad[1], bad[2], 2000); err == nil {
			t.Errorf("Settle%v accepted", bad)
		}
	}
}

// TestSettleProperties: over 20,000 random escrows, shares and rates every
// part is ≥ 0 and the parts sum exactly to what was held; the ends agree
// with a plain release and a plain refund; the kept fee is within half a
// minor unit of P·X/A.
func TestSettleProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for i := range 20_000 {
		a := 1 + rng.Int64N(1_000_000_000)
		if i%10 == 0 {
			a = 1 + rng.Int64N(MaxAmount) // the whole range, for overflow
		}
		customer, contractor := rng.IntN(10_001), rng.IntN(10_001)
		split, err := Fees(a, Rates{CustomerBPS: customer, ContractorBPS: contractor})
		if err != nil {
			t.Fatal(err)
		}
		x := rng.Int64N(a + 1)
		switch i % 7 {
		case 0:
			x = 0
		case 1:
			x = a
		}
		s, err := Settle(a, split.PlatformFee, x, contractor)
		if err != nil {
			t.Fatalf("Settle(%d, %d, %d, %d): %v", a, split.PlatformFee, x, contractor, err)
		}
		for _, part := range []int64{s.ServiceFee, s.ContractorPayout, s.CustomerRefund, s.PlatformFeeKept, s.PlatformFeeRefund} {
			if part < 0 {
				t.Fatalf("negative part: %+v (a %d, p %d, x %d)", s, a, split.PlatformFee, x)
			}
		}
		if s.ServiceFee+s.ContractorPayout+s.CustomerRefund != a || s.PlatformFeeKept+s.PlatformFeeRefund != split.PlatformFee {
			t.Fatalf("parts do not add up: %+v (a %d, p %d, x %d)", s, a, split.PlatformFee, x)
		}
		if x == a && (s.ServiceFee != split.ServiceFee || s.PlatformFeeRefund != 0) {
			t.Fatalf("a full share is not a release: %+v vs %+v", s, split)
		}
		if x == 0 && (s.CustomerRefund != a || s.PlatformFeeRefund != split.PlatformFee) {
			t.Fatalf("a zero share is not a refund: %+v", s)
		}
		exact := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(split.PlatformFee), big.NewInt(x)), big.NewInt(a))
		diff := new(big.Rat).Sub(new(big.Rat).SetInt64(s.PlatformFeeKept), exact)
		if diff.Cmp(big.NewRat(1, 2)) > 0 || diff.Cmp(big.NewRat(-1, 2)) <= 0 {
			t.Fatalf("kept %d of fee %d for %d/%d: not half-up of %s", s.PlatformFeeKept, split.PlatformFee, x, a, exact.FloatString(3))
		}
	}
}
