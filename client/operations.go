package client

import "embed"

// Operations holds operations/*.graphql, for GraphiQL's examples
// (server/graphiql).
//
//go:embed operations/*.graphql
var Operations embed.FS
