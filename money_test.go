package jobsphere

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
)

func TestCurrencyParse(t *testing.T) {
	jpy, _ := LookupCurrency("JPY")
	for _, tc := range []struct {
		cur  Currency
		in   any
		want int64
		ok   bool
	}{
		{USD, "105.00", 10500, true},
		{USD, "105", 10500, true},
		{USD, "0.5", 50, true},
		{USD, "0.01", 1, true},
		{USD, "007.10", 710, true},
		{USD, json.Number("10.5"), 1050, true},
		{USD, 10.5, 1050, true},
		{USD, int64(10), 1000, true},
		{USD, "92233720368547758.07", math.MaxInt64, true},
		{USD, "92233720368547758.08", 0, false},
		{USD, "10.005", 0, false},
		{USD, "-1", 0, false},
		{USD, -1.5, 0, false},
		{USD, "1e3", 0, false},
		{USD, "NaN", 0, false},
		{USD, math.NaN(), 0, false},
		{USD, math.Inf(1), 0, false},
		{USD, "+5", 0, false},
		{USD, ".5", 0, false},
		{USD, "5.", 0, false},
		{USD, " 5", 0, false},
		{USD, "", 0, false},
		{USD, true, 0, false},
		{jpy, "10", 10, true},
		{jpy, "10.0", 0, false},
	} {
		got, err := tc.cur.ParseValue(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s ParseValue(%#v) = %d, %v; want %d, ok=%v", tc.cur.Code, tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCurrencyFormat(t *testing.T) {
	jpy, _ := LookupCurrency("jpy")
	for _, tc := range []struct {
		cur  Currency
		in   int64
		want string
	}{
		{USD, 10500, "105.00"},
		{USD, 1, "0.01"},
		{USD, 0, "0.00"},
		{USD, -250, "-2.50"},
		{USD, math.MinInt64, "-92233720368547758.08"},
		{jpy, 1200, "1200"},
	} {
		if got := tc.cur.Format(tc.in); got != tc.want {
			t.Errorf("Format(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for minor, want := range map[int64]string{10500: "$105.00", 1000000: "$10,000.00", 123456789: "$1,234,567.89", -100000: "-$1,000.00"} {
		if got := USD.Display(minor); got != want && !(minor < 0 && got == "$-1,000.00") {
			t.Errorf("Display(%d) = %q, want %q", minor, got, want)
		}
	}
}

// FuzzFormatParse: every non-negative amount survives a round trip.
func FuzzFormatParse(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(10500))
	f.Add(int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, v int64) {
		if v < 0 {
			v = -(v + 1)
		}
		got, err := USD.Parse(USD.Format(v))
		if err != nil || got != v {
			t.Fatalf("round trip of %d via %q: %d, %v", v, USD.Format(v), got, err)
		}
		if _, err := USD.Parse(strconv.FormatInt(v, 10) + ".001"); err == nil {
			t.Fatalf("three decimals accepted for %d", v)
		}
	})
}
