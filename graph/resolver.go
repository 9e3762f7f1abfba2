// Package graph holds the GraphQL schema and its resolvers. Resolvers
// authorize, call one service method and map its errors; they never
// compute money or change state themselves.
package graph

import (
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/lookup"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/media"
	"github.com/jobsphere/jobsphere/payments"
)

//go:generate go run github.com/99designs/gqlgen generate

// Resolver is the resolver root; it holds the services.
type Resolver struct {
	Lookup   *lookup.Service
	Auth     *auth.Service
	Ledger   *ledger.Ledger
	Market   *market.Service
	Payments *payments.Service
	Media    *media.Service
	Audit    *audit.Log
}
