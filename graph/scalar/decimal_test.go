package scalar

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"strconv"
	"testing"

	"github.com/jobsphere/jobsphere"
)

func TestDecimalMarshal(t *testing.T) {
	inr, _ := jobsphere.LookupCurrency("inr")
	jpy, _ := jobsphere.LookupCurrency("jpy")
	for _, tc := range []struct {
		cur  jobsphere.Currency
		in   int64
		want string
	}{
		{jobsphere.USD, 10500, `"105.00"`},
		{inr, 5, `"0.05"`},
		{jpy, 1050, `"1050"`},
	} {
		var b bytes.Buffer
		if err := MarshalDecimal(tc.in).MarshalGQLContext(jobsphere.WithCurrency(context.Background(), tc.cur), &b); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%s %d: %s, want %s", tc.cur.Code, tc.in, b.String(), tc.want)
		}
	}
}

func TestDecimalUnmarshalErrorsAreBadUserInput(t *testing.T) {
	for _, in := range []any{"1.001", "-5", "1e2", "NaN", json.Number("1E400"), "99999999999999999999", nil, []int{1}} {
		_, err := UnmarshalDecimal(context.Background(), in)
		if jobsphere.ErrorCode(err) != jobsphere.BadUserInput {
			t.Errorf("UnmarshalDecimal(%#v): %v", in, err)
		}
	}
}

// FuzzUnmarshalDecimal: whatever the input, unmarshalling never panics,
// and it accepts a value only when it is exactly representable in minor
// units — the amount it returns is then exactly the input's value.
// The seed corpus is in testdata/fuzz/FuzzUnmarshalDecimal.
func FuzzUnmarshalDecimal(f *testing.F) {
	for _, s := range []string{"0", "105.00", "0.5", "10.005", "-1", "1e3", "NaN", "9223372036854775807", "92233720368547758.07", ".5", "5.", "007.10", "１０", "0x10"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, asNumber bool) {
		var in any = s
		if asNumber {
			in = json.Number(s)
		}
		ctx := context.Background()
		minor, err := UnmarshalDecimal(ctx, in)
		exact, isNumber := new(big.Rat).SetString(s)
		if err != nil {
			if jobsphere.ErrorCode(err) != jobsphere.BadUserInput {
				t.Fatalf("%q: error is not BAD_USER_INPUT: %v", s, err)
			}
			return
		}
		if !isNumber {
			t.Fatalf("%q accepted as %d but is not a number", s, minor)
		}
		got := new(big.Rat).SetFrac64(minor, 100)
		if got.Cmp(exact) != 0 {
			t.Fatalf("%q accepted as %d minor units: inexact", s, minor)
		}
		if minor < 0 {
			t.Fatalf("%q accepted as negative %d", s, minor)
		}
		// What we print reads back as the same amount.
		var b bytes.Buffer
		_ = MarshalDecimal(minor).MarshalGQLContext(ctx, &b)
		out, _ := strconv.Unquote(b.String())
		if again, err := UnmarshalDecimal(ctx, out); err != nil || again != minor {
			t.Fatalf("%q → %d → %q → %d, %v", s, minor, out, again, err)
		}
	})
}
