// Package scalar implements the GraphQL scalars that are ours.
package scalar

import (
	"context"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jobsphere/jobsphere"
)

// MarshalDecimal writes an amount of minor units as a string with the
// request's currency's minor digits: 10500 → "105.00".
func MarshalDecimal(minor int64) graphql.ContextMarshaler {
	return graphql.ContextWriterFunc(func(ctx context.Context, w io.Writer) error {
		_, err := io.WriteString(w, strconv.Quote(jobsphere.CurrencyFrom(ctx).Format(minor)))
		return err
	})
}

// UnmarshalDecimal reads an exact amount from a string or a number.
func UnmarshalDecimal(ctx context.Context, v any) (int64, error) {
	minor, err := jobsphere.CurrencyFrom(ctx).ParseValue(v)
	if err != nil {
		return 0, &jobsphere.Error{Code: jobsphere.BadUserInput, Message: err.Error()}
	}
	return minor, nil
}
