package ledger

import (
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
