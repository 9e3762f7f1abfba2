// Package client holds, in operations/, the GraphQL documents the apps send:
// one named operation for every flow of the REST backends this server
// replaces (the seeds), grouped by area, with shared fragments in
// operations/fragments.graphql. Apollo Client and the Flutter clients can
// generate their code from them.
//
// operations_test.go validates all the documents together against the
// schema the server really executes (graph/generated), so renaming or
// retyping a field, argument or type breaks the test, not the apps. It also
// checks that every operation is named, names are unique, inputs are
// variables, each operation fits the server's default depth and complexity
// limits, every root field is used by some document, and every seed
// endpoint has its replacement.
package client
