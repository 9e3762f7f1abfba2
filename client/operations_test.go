package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	gql "github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/graph"
	"github.com/jobsphere/jobsphere/graph/generated"
)

// unusedRootFields are the root fields no client document needs, each with
// its reason. Every other Query, Mutation and Subscription field must be
// used by some operation in operations/.
var unusedRootFields = map[string]string{
	"Query.nodes": "Relay's batch refetch; the apps load one object at a time with node(id), and no seed flow lists objects by ids",
}

// seedEndpoints maps every REST endpoint of the seeds (the REST backends this replaces) to the schema
// root fields that replace it and the documents that call them. The
// webhook routes (POST /api/webhooks/stripe, POST /webhook) stay REST and
// are not listed.
var seedEndpoints = []struct {
	endpoint   string
	fields     []string
	operations []string
}{
	// 000 and 001: JobSphere.
	{"POST /api/auth/register", []string{"Mutation.register"}, []string{"Register"}},
	{"POST /api/auth/login", []string{"Mutation.login"}, []string{"Login"}},
	{"GET /api/wallet", []string{"Query.wallet"}, []string{"GetWallet"}},
	{"GET /api/wallet/stripe-config", []string{"Query.stripeConfig"}, []string{"GetStripeConfig"}},
	{"POST /api/wallet/deposit (000: paymentMethodId, 3-D Secure)",
		[]string{"Mutation.deposit", "Query.deposit", "Subscription.depositCompleted"},
		[]string{"DepositWithCard", "GetDeposit", "OnDepositCompleted"}},
	{"POST /api/wallet/deposit (001: Stripe Checkout)",
		[]string{"Mutation.deposit", "Subscription.walletUpdated"},
		[]string{"DepositWithCheckout", "OnWalletUpdated"}},
	{"POST /api/wallet/withdraw",
		[]string{"Mutation.withdraw", "Mutation.approveWithdrawal", "Mutation.rejectWithdrawal"},
		[]string{"Withdraw", "ApproveWithdrawal", "RejectWithdrawal"}},
	{"GET /api/wallet/transactions", []string{"Query.transactions"}, []string{"ListTransactions"}},
	{"GET withdrawal status (000, path lost)", []string{"Query.withdrawal"}, []string{"GetWithdrawal"}},
	{"POST /api/wallet/connect-account", []string{"Mutation.createConnectAccount"}, []string{"CreateConnectAccount"}},
	{"GET /api/wallet/connect-account/status", []string{"Query.connectAccountStatus"}, []string{"GetConnectAccountStatus"}},
	{"POST new onboarding link (000, path lost)", []string{"Mutation.refreshConnectOnboardingLink"}, []string{"RefreshConnectOnboardingLink"}},
	{"POST /api/wallet/stripe/onboard",
		[]string{"Mutation.createConnectAccount", "Mutation.refreshConnectOnboardingLink"},
		[]string{"CreateConnectAccount", "RefreshConnectOnboardingLink"}},
	{"GET /api/wallet/stripe/status", []string{"Query.connectAccountStatus"}, []string{"GetConnectAccountStatus"}},
	{"POST /api/job-request/:applicationId/send-offer", []string{"Mutation.sendOffer"}, []string{"SendOffer"}},
	{"POST /api/job-request/offer/:offerId/accept", []string{"Mutation.acceptOffer"}, []string{"AcceptOffer"}},
	{"POST /api/job-request/offer/:offerId/reject", []string{"Mutation.rejectOffer"}, []string{"RejectOffer"}},
	{"GET /api/job/:id", []string{"Query.job"}, []string{"GetJob"}},
	{"PATCH /api/job/:id/status", []string{"Mutation.updateJobStatus"}, []string{"UpdateJobStatus"}},
	{"POST /api/job/:id/complete",
		[]string{"Mutation.completeJob", "Mutation.approveFundRelease"},
		[]string{"CompleteJob", "ApproveFundRelease"}},
	{"POST /api/job/:id/cancel", []string{"Mutation.cancelJob"}, []string{"CancelJob"}},
	// 002 and 004: Skillhouse.
	{"POST /api/client/job/payment/:jobId", []string{"Mutation.payForJob"}, []string{"PayForJob"}},
	{"PATCH /api/client/release-fund/:contractId", []string{"Mutation.requestFundRelease"}, []string{"RequestFundRelease"}},
	{"PUT /api/admin/escrow/release-fund/:contractId", []string{"Mutation.approveFundRelease"}, []string{"ApproveFundRelease"}},
	{"PUT /api/admin/escrow/refund-client/:contractId/:clientId", []string{"Mutation.refundEscrow"}, []string{"RefundEscrow"}},
	{"POST /api/client/review/rate-freelancer/:clientId", []string{"Mutation.rateFreelancer"}, []string{"RateFreelancer"}},
	{"GET /api/client/review/show-reviews/:freelancerId", []string{"Query.reviews"}, []string{"ListReviews"}},
	{"POST /api/media/upload", []string{"Mutation.uploadMedia"}, []string{"UploadMedia"}},
	// 003: the server side of Financial Connections (no path given).
	{"POST Financial Connections session (003)", []string{"Mutation.createFinancialConnectionsSession"}, []string{"CreateFinancialConnectionsSession"}},
}

// executableSchema is the schema the server runs, built as server/graphql.go
// builds it.
func executableSchema() gql.ExecutableSchema {
	return generated.NewExecutableSchema(generated.Config{
		Resolvers:  &graph.Resolver{},
		Directives: graph.Directives(),
	})
}

// loadOperations parses every operations/*.graphql file and merges them into
// one document, so a fragment may be spread from any file.
func loadOperations(t *testing.T) *ast.QueryDocument {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("operations", "*.graphql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no operations/*.graphql files")
	}
	doc := &ast.QueryDocument{}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		part, err := parser.ParseQuery(&ast.Source{Name: file, Input: string(src)})
		if err != nil {
			t.Errorf("%s: does not parse: %v", file, err)
			continue
		}
		if len(part.Operations) == 0 && len(part.Fragments) == 0 {
			t.Errorf("%s: holds no operation or fragment", file)
		}
		doc.Operations = append(doc.Operations, part.Operations...)
		doc.Fragments = append(doc.Fragments, part.Fragments...)
	}
	if t.Failed() {
		t.FailNow()
	}
	return doc
}

func at(pos *ast.Position) string {
	if pos == nil || pos.Src == nil {
		return "?"
	}
	return fmt.Sprintf("%s:%d:%d", pos.Src.Name, pos.Line, pos.Column)
}

// rootFields returns "Query.wallet"-style names of the root fields op
// selects, through fragments and inline fragments at its top level.
func rootFields(schema *ast.Schema, doc *ast.QueryDocument, op *ast.OperationDefinition) []string {
	var root *ast.Definition
	switch op.Operation {
	case ast.Query:
		root = schema.Query
	case ast.Mutation:
		root = schema.Mutation
	case ast.Subscription:
		root = schema.Subscription
	}
	var names []string
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.Field:
				names = append(names, root.Name+"."+sel.Name)
			case *ast.InlineFragment:
				walk(sel.SelectionSet)
			case *ast.FragmentSpread:
				if f := doc.Fragments.ForName(sel.Name); f != nil {
					walk(f.SelectionSet)
				}
			}
		}
	}
	walk(op.SelectionSet)
	return names
}

func TestOperations(t *testing.T) {
	es := executableSchema()
	schema := es.Schema()
	doc := loadOperations(t)

	// Everything after this needs a valid document: stop here if not.
	t.Run("valid against the live schema", func(t *testing.T) {
		// A mistake in a fragment is reported once per spread: say it once.
		reported := map[string]bool{}
		for _, err := range validator.ValidateWithRulesWithSources(schema, doc, rules.NewDefaultRules()) {
			if msg := err.Error(); !reported[msg] {
				reported[msg] = true
				t.Error(msg)
			}
		}
	})
	if t.Failed() {
		t.Fatal("the documents in operations/ do not match the schema (graph/*.graphqls): fix the documents, or the schema if the change broke the public API")
	}

	t.Run("named and unique", func(t *testing.T) {
		seen := map[string]*ast.OperationDefinition{}
		for _, op := range doc.Operations {
			if op.Name == "" {
				t.Errorf("%s: anonymous %s: every operation needs a name", at(op.Position), op.Operation)
				continue
			}
			if first, ok := seen[op.Name]; ok {
				t.Errorf("%s: operation %s is already defined at %s", at(op.Position), op.Name, at(first.Position))
				continue
			}
			seen[op.Name] = op
		}
		frags := map[string]*ast.FragmentDefinition{}
		for _, f := range doc.Fragments {
			if first, ok := frags[f.Name]; ok {
				t.Errorf("%s: fragment %s is already defined at %s", at(f.Position), f.Name, at(first.Position))
			}
			frags[f.Name] = f
		}
	})

	t.Run("inputs are variables", func(t *testing.T) {
		var check func(where string, v *ast.Value)
		check = func(where string, v *ast.Value) {
			switch v.Kind {
			case ast.Variable:
			case ast.ObjectValue, ast.ListValue:
				for _, c := range v.Children {
					check(where, c.Value)
				}
			default:
				t.Errorf("%s: %s is the literal %s: pass it as a variable", at(v.Position), where, v.String())
			}
		}
		var walk func(ast.SelectionSet)
		walk = func(set ast.SelectionSet) {
			for _, sel := range set {
				switch sel := sel.(type) {
				case *ast.Field:
					for _, arg := range sel.Arguments {
						check(fmt.Sprintf("argument %s of %s", arg.Name, sel.Name), arg.Value)
					}
					walk(sel.SelectionSet)
				case *ast.InlineFragment:
					walk(sel.SelectionSet)
				}
			}
		}
		for _, op := range doc.Operations {
			walk(op.SelectionSet)
		}
		for _, f := range doc.Fragments {
			walk(f.SelectionSet)
		}
	})

	t.Run("within the server's default limits", func(t *testing.T) {
		cfg, err := config.Load(func(name string) string {
			if name == "JWT_SECRET" { // else Load would create ./data/jwt_secret
				return strings.Repeat("k", 32)
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		depth := graph.DepthLimit{Max: cfg.GraphQLMaxDepth}
		for _, op := range doc.Operations {
			if err := depth.MutateOperationContext(context.Background(), &gql.OperationContext{Operation: op}); err != nil {
				t.Errorf("%s: %s: %s", at(op.Position), op.Name, err.Message)
			}
			if c := complexity.Calculate(context.Background(), es, op, nil); c > cfg.GraphQLMaxComplexity {
				t.Errorf("%s: %s: complexity %d exceeds the default limit of %d", at(op.Position), op.Name, c, cfg.GraphQLMaxComplexity)
			}
		}
	})

	used := map[string][]string{} // root field -> operations
	ops := map[string]bool{}
	for _, op := range doc.Operations {
		ops[op.Name] = true
		for _, f := range rootFields(schema, doc, op) {
			used[f] = append(used[f], op.Name)
		}
	}

	t.Run("every root field is used", func(t *testing.T) {
		for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
			if root == nil {
				continue
			}
			for _, f := range root.Fields {
				name := root.Name + "." + f.Name
				if strings.HasPrefix(f.Name, "__") {
					continue
				}
				_, allowed := unusedRootFields[name]
				switch {
				case len(used[name]) == 0 && !allowed:
					t.Errorf("%s (%s) is used by no document in operations/: add a named operation for it, or list it in unusedRootFields with the reason", name, at(f.Position))
				case len(used[name]) > 0 && allowed:
					t.Errorf("%s is listed in unusedRootFields but %v use it: remove it from the list", name, used[name])
				}
			}
		}
		for name := range unusedRootFields {
			typ, field, _ := strings.Cut(name, ".")
			if def := schema.Types[typ]; def == nil || def.Fields.ForName(field) == nil {
				t.Errorf("unusedRootFields lists %s, which the schema no longer has", name)
			}
		}
	})

	t.Run("every seed endpoint has its operations", func(t *testing.T) {
		for _, e := range seedEndpoints {
			var reached []string
			for _, name := range e.operations {
				if !ops[name] {
					t.Errorf("%s: operation %s is missing from operations/", e.endpoint, name)
				}
			}
			for f, users := range used {
				for _, u := range users {
					if slices.Contains(e.operations, u) {
						reached = append(reached, f)
						break
					}
				}
			}
			for _, f := range e.fields {
				if !slices.Contains(reached, f) {
					sort.Strings(reached)
					t.Errorf("%s: none of %v calls %s (they call %v)", e.endpoint, e.operations, f, reached)
				}
			}
		}
	})
}
