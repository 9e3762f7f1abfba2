package jobsphere

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Currency is the deployment's one currency. Amounts are int64 counts of
// its minor unit; Exponent is how many minor digits a major unit has.
type Currency struct {
	Code     string // ISO 4217, lower case: "usd"
	Exponent int
}

// minorDigits are the ISO 4217 exponents of the currencies we accept.
var minorDigits = map[string]int{
	"usd": 2, "eur": 2, "gbp": 2, "inr": 2, "cad": 2, "aud": 2, "chf": 2,
	"sgd": 2, "nzd": 2, "sek": 2, "nok": 2, "dkk": 2, "mxn": 2, "brl": 2,
	"jpy": 0, "krw": 0, "vnd": 0, "clp": 0,
}

// LookupCurrency returns the Currency for an ISO code, in any case.
func LookupCurrency(code string) (Currency, error) {
	c := strings.ToLower(strings.TrimSpace(code))
	exp, ok := minorDigits[c]
	if !ok {
		return Currency{}, fmt.Errorf("unsupported currency %q", code)
	}
	return Currency{Code: c, Exponent: exp}, nil
}

// USD is the default currency.
var USD = Currency{Code: "usd", Exponent: 2}

// Format writes an amount with exactly the currency's minor digits: 10500 → "105.00".
func (c Currency) Format(minor int64) string {
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign = "-"
		u = uint64(-(minor + 1)) + 1 // safe for math.MinInt64
	}
	s := strconv.FormatUint(u, 10)
	if c.Exponent == 0 {
		return sign + s
	}
	if len(s) <= c.Exponent {
		s = strings.Repeat("0", c.Exponent-len(s)+1) + s
	}
	cut := len(s) - c.Exponent
	return sign + s[:cut] + "." + s[cut:]
}

// Display writes an amount for messages, grouped by thousands and with
// the currency symbol where one is customary: "$10,000.00".
func (c Currency) Display(minor int64) string {
	n := grouped(c.Format(minor))
	switch c.Code {
	case "usd", "cad", "aud", "nzd", "sgd", "mxn":
		return "$" + n
	case "inr":
		return "₹" + n
	case "eur":
		return "€" + n
	case "gbp":
		return "£" + n
	}
	return n + " " + strings.ToUpper(c.Code)
}

// grouped puts commas between thousands of a formatted amount.
func grouped(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

// Parse reads a non-negative decimal amount exactly: digits, optionally a
// point and at most Exponent fraction digits. Signs, exponents, NaN,
// spaces and values beyond int64 are refused.
func (c Currency) Parse(s string) (int64, error) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || (hasPoint && (frac == "" || !allDigits(frac))) {
		if strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("amount must not be negative")
		}
		return 0, fmt.Errorf("%q is not a valid amount: use digits with at most %d decimal places, like %q", s, c.Exponent, c.Format(10500))
	}
	if len(frac) > c.Exponent {
		return 0, fmt.Errorf("%q has more than %d decimal places", s, c.Exponent)
	}
	frac += strings.Repeat("0", c.Exponent-len(frac))
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return v, nil
}

// ParseValue reads an amount given as a JSON string or number.
func (c Currency) ParseValue(v any) (int64, error) {
	switch v := v.(type) {
	case string:
		return c.Parse(v)
	case fmt.Stringer: // json.Number keeps the literal's exact text
		return c.Parse(v.String())
	case int:
		return c.Parse(strconv.Itoa(v))
	case int64:
		return c.Parse(strconv.FormatInt(v, 10))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("amount must be a finite number")
		}
		return c.Parse(strconv.FormatFloat(v, 'f', -1, 64))
	}
	return 0, fmt.Errorf("amount must be a string or a number, got %T", v)
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

type currencyKey struct{}

// WithCurrency returns a context whose amounts are in c.
func WithCurrency(ctx context.Context, c Currency) context.Context {
	return context.WithValue(ctx, currencyKey{}, c)
}

// CurrencyFrom returns the context's currency, USD when none was set.
func CurrencyFrom(ctx context.Context) Currency {
	if c, ok := ctx.Value(currencyKey{}).(Currency); ok {
		return c
	}
	return USD
}
