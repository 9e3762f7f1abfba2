package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/user"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// The input half of the security suite: what an attacker with a real
// client sends in strings, numbers, lists and URLs.

// requireNoErrorLogged fails when the server logged an ERROR line: a
// client's bad input is the client's problem, not an alert.
func requireNoErrorLogged(t *testing.T, srv *servertest.Server) {
	t.Helper()
	for _, line := range strings.Split(srv.Logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Fatalf("the server logged an error: %s", line)
		}
	}
}

// TestControlCharactersRefused: a NUL (or another control character) in
// any string or id is BAD_USER_INPUT naming the field, as a variable or
// written inline, in input objects and in lists, on both databases; none
// reaches the database and nothing is stored.
func TestControlCharactersRefused(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer := srv.Register(t, "CUSTOMER")
		contractor := verifiedContractor(t, srv, "verified")
		srv.Fund(t, contractor.ID, 10000)
		cc, kc := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken)
		jobID := postJob(t, cc)

		// Each case: the client, the document with a variable $s for the
		// bad string, the same document with the string inline (%s is the
		// GraphQL string literal), and the field the error must name.
		type inputCase struct {
			c       *servertest.Client
			query   string
			inline  string
			field   string
			varType string
		}
		cases := []inputCase{
			{srv.Client(""), `mutation($s: String!) { login(input: {email: $s, password: "Password123"}) { user { id } } }`,
				`mutation { login(input: {email: %s, password: "Password123"}) { user { id } } }`, "email", ""},
			{srv.Client(""), `mutation($s: String!) { register(input: {email: "nul.name@input.test", password: "Password123", name: $s, role: CUSTOMER}) { user { id } } }`,
				`mutation { register(input: {email: "nul.name@input.test", password: "Password123", name: %s, role: CUSTOMER}) { user { id } } }`, "name", ""},
			{cc, `mutation($s: String!) { createJob(input: {title: $s, description: "A description", budget: "100"}) { id } }`,
				`mutation { createJob(input: {title: %s, description: "A description", budget: "100"}) { id } }`, "title", ""},
			{kc, `mutation($s: String!) { applyToJob(input: {jobId: "` + jobID + `", coverLetter: $s, proposedAmount: "90"}) { id } }`,
				`mutation { applyToJob(input: {jobId: "` + jobID + `", coverLetter: %s, proposedAmount: "90"}) { id } }`, "coverLetter", ""},
			{kc, `mutation($s: String) { withdraw(amount: "20", idempotencyKey: $s) { withdrawal { id } } }`,
				`mutation { withdraw(amount: "20", idempotencyKey: %s) { withdrawal { id } } }`, "idempotencyKey", ""},
			{cc, `query($s: ID!) { job(id: $s) { id } }`, `{ job(id: %s) { id } }`, "id", ""},
			{cc, `query($s: ID!) { nodes(ids: ["` + jobID + `", $s]) { id } }`, `{ nodes(ids: ["` + jobID + `", %s]) { id } }`, "ids", ""},
			{cc, `query($s: String!) { jobs(where: {categoryIn: ["x", $s]}) { totalCount } }`,
				`{ jobs(where: {categoryIn: ["x", %s]}) { totalCount } }`, "categoryIn", ""},
		}
		bad := map[string]string{ // as JSON / as a GraphQL literal
			"a\x00@x.com":     `"a\u0000@x.com"`,
			"a\x07@x.com":     `"a\u0007@x.com"`,
			"a\x7f@x.com":     `"a\u007F@x.com"`,
			"a\u0085@x.com":   `"a\u0085@x.com"`,
			"a\u009b31m@x.co": `"a\u009b31m@x.co"`,
		}
		for _, tc := range cases {
			for value, literal := range bad {
				for form, r := range map[string]servertest.Response{
					"variable": tc.c.Do(t, tc.query, map[string]any{"s": value}),
					"inline":   tc.c.Do(t, fmt.Sprintf(tc.inline, literal), nil),
				} {
					if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" {
						t.Fatalf("%s %q as a %s: %s", tc.field, value, form, r.ErrorSummary())
					}
					e := r.Errors[0]
					if f := e.Fields(); len(f) != 1 || f[0].Field != tc.field || !strings.Contains(e.Message, "control character") {
						t.Fatalf("%s %q as a %s: %q %+v", tc.field, value, form, e.Message, f)
					}
				}
			}
		}
		// Free text keeps its newlines and tabs.
		var multiLine struct{ CreateJob struct{ Description string } }
		cc.MustDo(t, `mutation($d: String!) { createJob(input: {title: "Two lines", description: $d, budget: "100"}) { description } }`,
			map[string]any{"d": "Line one,\r\n\tline two"}, &multiLine)
		if multiLine.CreateJob.Description != "Line one,\r\n\tline two" {
			t.Fatalf("description: %q", multiLine.CreateJob.Description)
		}

		// A REST route with the NUL in its path: refused before anything
		// reaches the database.
		for _, path := range []string{"/sandbox/connect/acct_%00x/onboard", "/sandbox/checkout/cs_%00/pay"} {
			resp, err := http.PostForm(srv.URL+path, url.Values{"outcome": {"verified"}, "card": {"4242424242424242"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("POST %s: %d", path, resp.StatusCode)
			}
		}

		ctx := context.Background()
		if n := srv.App.Client.User.Query().Where(user.EmailContains("nul.name")).CountX(ctx); n != 0 {
			t.Fatalf("%d users stored", n)
		}
		if n := srv.App.Client.Job.Query().Where(job.TitleNEQ("Build a website"), job.TitleNEQ("Two lines")).CountX(ctx); n != 0 {
			t.Fatalf("%d jobs stored", n)
		}
		if n := srv.App.Client.JobApplication.Query().Where(jobapplication.ContractorID(toID(contractor.ID))).CountX(ctx); n != 0 {
			t.Fatalf("%d applications stored", n)
		}
		if n := srv.App.Client.Withdrawal.Query().Where(withdrawal.UserID(toID(contractor.ID))).CountX(ctx); n != 0 {
			t.Fatalf("%d withdrawals stored", n)
		}
		requireNoErrorLogged(t, srv)
	})
}

// productionServer starts a server as production runs it.
func productionServer(t *testing.T) *servertest.Server {
	t.Helper()
	env := servertest.Env(t, servertest.SQLite)
	env["APP_ENV"] = "production"
	env["BCRYPT_COST"] = "10"
	servertest.StripeEnv(env, "http://127.0.0.1:1") // required in production; nothing here calls Stripe
	return servertest.Start(t, env)
}

// TestProductionIntrospectionIsAValidationError: with introspection off,
// an anonymous __schema probe is GRAPHQL_VALIDATION_FAILED and no error
// log line, and validation errors suggest no field, argument, type or
// enum value names.
func TestProductionIntrospectionIsAValidationError(t *testing.T) {
	srv := productionServer(t)
	for _, q := range []string{`{ __schema { types { name } } }`, `{ __type(name: "User") { name } }`, `{ a: __typename b: __schema { queryType { name } } }`} {
		r := srv.Client("").Do(t, q, nil)
		if len(r.Errors) == 0 || r.Errors[0].Code() != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(string(r.Data), "name") {
			t.Fatalf("%s: %s %s", q, r.ErrorSummary(), r.Data)
		}
	}
	probes := []string{
		`{ walet { balance } }`,                                      // a field
		`{ jobs(frist: 5) { totalCount } }`,                          // an argument
		`query($w: JobWhereInpt) { jobs(where: $w) { totalCount } }`, // a type
		`{ jobs(where: {status: OPN}) { totalCount } }`,              // an enum value
		`{ jobs(where: {statuss: OPEN}) { totalCount } }`,            // an input field
		`{ me }`, // a selection
	}
	for _, q := range probes {
		r := srv.Client("").Do(t, q, nil)
		if len(r.Errors) == 0 {
			t.Fatalf("%s answered", q)
		}
		for _, e := range r.Errors {
			if strings.Contains(e.Message, "Did you mean") || strings.Contains(e.Message, "wallet") || strings.Contains(e.Message, "{ ... }") {
				t.Errorf("%s: the error suggests names: %q", q, e.Message)
			}
		}
	}
	requireNoErrorLogged(t, srv)

	// Where introspection is on, so are suggestions.
	dev := servertest.New(t, servertest.SQLite)
	if r := dev.Client("").Do(t, probes[0], nil); len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, `Did you mean "wallet"`) {
		t.Fatalf("development: %s", r.ErrorSummary())
	}
}

// TestNodesIsBounded: nodes(ids) takes at most 100 ids, and each id counts
// in the complexity limit.
func TestNodesIsBounded(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	c := srv.Client(srv.Register(t, "CUSTOMER").AccessToken)
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("job_%026d", i)
		}
		return out
	}
	const nodes = `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`
	var ok struct{ Nodes []*struct{ ID string } }
	c.MustDo(t, nodes, map[string]any{"ids": ids(100)}, &ok)
	if len(ok.Nodes) != 100 {
		t.Fatalf("100 ids: %d nodes", len(ok.Nodes))
	}
	e := c.Do(t, nodes, map[string]any{"ids": ids(101)}).RequireError(t, "BAD_USER_INPUT")
	if e.Message != "nodes takes at most 100 ids" || len(e.Fields()) != 1 || e.Fields()[0].Field != "ids" {
		t.Fatalf("101 ids: %q %+v", e.Message, e.Fields())
	}
	c.Do(t, nodes, map[string]any{"ids": ids(30000)}).RequireError(t, "COMPLEXITY_LIMIT_EXCEEDED")
	// 80 ids × a selection of about 18 fields is over the limit of 1000.
	heavy := `query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Job { title description budget status category location createdAt updatedAt
	  postedBy { id name role createdAt updatedAt rating { average count } } } } }`
	c.Do(t, heavy, map[string]any{"ids": ids(80)}).RequireError(t, "COMPLEXITY_LIMIT_EXCEEDED")
}

// TestDecimalLiteralsAreExact: an amount written inline in the document
// reads exactly as the same amount sent as a variable: the same value or
// the same error, for every case of the Decimal scalar's tests that is a
// GraphQL number.
func TestDecimalLiteralsAreExact(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	c := srv.Client(srv.Register(t, "CUSTOMER").AccessToken)
	type outcome struct {
		Budget        string
		Code, Message string
		Fields        []servertest.Field
	}
	read := func(r servertest.Response) outcome {
		if len(r.Errors) > 0 {
			return outcome{Code: r.Errors[0].Code(), Message: r.Errors[0].Message, Fields: r.Errors[0].Fields()}
		}
		var out struct{ CreateJob struct{ Budget string } }
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatal(err)
		}
		return outcome{Budget: out.CreateJob.Budget}
	}
	want := map[string]string{"1e3": "BAD_USER_INPUT", "100000000000000.01": "100000000000000.01", "1E400": "BAD_USER_INPUT"}
	for _, lit := range []string{
		"0", "105.00", "0.5", "10.005", "-1", "1e3", "1E3", "1.5e2", "9223372036854775807", "92233720368547758.07",
		"1.001", "-5", "1e2", "1E400", "99999999999999999999", "100000000000000.01", "50", "-0", "0.10",
	} {
		inline := read(c.Do(t, `mutation { createJob(input: {title: "Inline", description: "An amount inline", budget: `+lit+`}) { budget } }`, nil))
		variable := read(c.Do(t, `mutation($b: Decimal!) { createJob(input: {title: "Inline", description: "An amount inline", budget: $b}) { budget } }`,
			map[string]any{"b": json.RawMessage(lit)}))
		if fmt.Sprint(inline) != fmt.Sprint(variable) {
			t.Errorf("%s inline: %+v, as a variable: %+v", lit, inline, variable)
		}
		if w := want[lit]; w != "" && inline.Budget != w && inline.Code != w {
			t.Errorf("%s: %+v, want %s", lit, inline, w)
		}
	}
	// In a list, and as a variable's default.
	listed := c.Do(t, `{ jobs(where: {budgetIn: [1e3]}) { totalCount } }`, nil).RequireError(t, "BAD_USER_INPUT")
	defaulted := c.Do(t, `query($b: Decimal = 1e3) { jobs(where: {budgetGTE: $b}) { totalCount } }`, nil).RequireError(t, "BAD_USER_INPUT")
	if listed.Message != defaulted.Message {
		t.Errorf("list %q, default %q", listed.Message, defaulted.Message)
	}
	requireNoErrorLogged(t, srv)
}

// TestEveryReturnURLFollowsOneRule: payForJob's and deposit's return
// URLs must be http(s) URLs with a host; anything else is BAD_USER_INPUT
// naming the field, and no Checkout is made.
func TestEveryReturnURLFollowsOneRule(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	customer, freelancer := srv.Register(t, "CUSTOMER"), srv.Register(t, "FREELANCER")
	cc := srv.Client(customer.AccessToken)
	jobID := postJob(t, cc)
	for _, bad := range []string{"javascript:alert(document.cookie)", "JavaScript://%0Aalert(1)", "data:text/html,<script>alert(1)</script>",
		"//evil.example.com/x", "http:/no-host", "https://", "ftp://files.example.com/", "https://user:pass@evil.example.com/"} {
		for _, field := range []string{"successUrl", "cancelUrl"} {
			pay := map[string]any{"jobId": jobID, "freelancerId": freelancer.ID, "title": "Website", "rate": "100", field: bad}
			e := cc.Do(t, payForJob, map[string]any{"in": pay}).RequireError(t, "BAD_USER_INPUT")
			if f := e.Fields(); len(f) != 1 || f[0].Field != field {
				t.Fatalf("payForJob %s %q: %q %+v", field, bad, e.Message, f)
			}
			dep := map[string]any{"amount": "20", field: bad}
			e = cc.Do(t, depositMutation, map[string]any{"input": dep}).RequireError(t, "BAD_USER_INPUT")
			if f := e.Fields(); len(f) != 1 || f[0].Field != field {
				t.Fatalf("deposit %s %q: %q %+v", field, bad, e.Message, f)
			}
		}
	}
	var ok struct{ PayForJob struct{ CheckoutURL string } }
	cc.MustDo(t, payForJob, map[string]any{"in": map[string]any{"jobId": jobID, "freelancerId": freelancer.ID, "title": "Website", "rate": "100",
		"successUrl": "https://app.example.com/paid?session={CHECKOUT_SESSION_ID}", "cancelUrl": "http://localhost:3000/cancelled"}}, &ok)
	if ok.PayForJob.CheckoutURL == "" {
		t.Fatal("no checkout for good URLs")
	}
}

// TestEmailLookAlikes: an email is NFKC-normalised, stripped of invisible
// format characters and lower-cased, then must be ASCII: look-alikes of
// an account are that account (taken) or refused, and sign in as it.
func TestEmailLookAlikes(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		register := `mutation($e: String!) { register(input: {email: $e, password: "Password123", name: "Dup User", role: CUSTOMER}) { user { id email } } }`
		var first struct {
			Register struct{ User struct{ ID, Email string } }
		}
		srv.Client("").MustDo(t, register, map[string]any{"e": "dup.user@adv.test"}, &first)
		for email, msg := range map[string]string{
			"Dup.User@Adv.Test\u200b": "User already exists with this email",
			"\ufeffdup.user@adv.test": "User already exists with this email",
			"ｄup.user@adv.test":       "User already exists with this email",
			"dup.us\u00adER@ADV.test": "User already exists with this email",
			"dup.us\u0435r@adv.test":  "Please provide a valid email address", // Cyrillic е
			"dup.user@аdv.test":       "Please provide a valid email address", // Cyrillic а in the domain
			"dùp.user@adv.test":       "Please provide a valid email address",
			"dup.user@adv.test\u202e": "User already exists with this email",
		} {
			e := srv.Client("").Do(t, register, map[string]any{"e": email}).RequireError(t, "BAD_USER_INPUT")
			if e.Message != msg || len(e.Fields()) != 1 || e.Fields()[0].Field != "email" {
				t.Errorf("register %q: %q %+v", email, e.Message, e.Fields())
			}
		}
		if n := srv.App.Client.User.Query().Where(user.EmailContains("adv.test")).CountX(context.Background()); n != 1 {
			t.Fatalf("%d accounts", n)
		}
		if u := srv.Login(t, "ＤUP.User@adv.test\u200b", "Password123"); u.ID != first.Register.User.ID || u.Email != "dup.user@adv.test" {
			t.Fatalf("look-alike sign-in: %+v", u)
		}
	})
}

// TestFailedSignInsDoNotLockOutTheOwner: ten failures from one address
// stop that address for the email, not the owner signing in from another;
// a much higher ceiling per email stops guessing spread over addresses.
func TestFailedSignInsDoNotLockOutTheOwner(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		env["TRUSTED_PROXY_HOPS"] = "1"
		srv := servertest.Start(t, env)
		owner := srv.Register(t, "CUSTOMER")
		servertest.AwayFromWindowEdge(t, auth.LoginLimit.Window, 30*time.Second)
		login := `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { user { id } } }`
		from := func(addr string) *servertest.Client {
			c := srv.Client("")
			c.Header.Set("X-Forwarded-For", addr)
			return c
		}
		guess := map[string]any{"e": owner.Email, "p": "not-the-Passw0rd"}
		right := map[string]any{"e": owner.Email, "p": owner.Password}
		attacker := from("198.51.100.7")
		for range 10 {
			attacker.Do(t, login, guess).RequireError(t, "UNAUTHENTICATED")
		}
		e := attacker.Do(t, login, guess).RequireError(t, "RATE_LIMITED")
		if e.Extensions["retryAfterSeconds"] == nil {
			t.Fatalf("no retryAfterSeconds: %+v", e)
		}
		attacker.Do(t, login, right).RequireError(t, "RATE_LIMITED") // even with the password: this address is stopped
		// The owner, from their own address, signs in (again and again).
		for range 12 {
			from("203.0.113.5").MustDo(t, login, right, nil)
		}
		// Guessing spread over many addresses meets the ceiling per email.
		for i := range 89 {
			from(fmt.Sprintf("192.0.2.%d", i)).Do(t, login, guess).RequireError(t, "UNAUTHENTICATED")
		}
		from("192.0.2.200").Do(t, login, guess).RequireError(t, "UNAUTHENTICATED") // the 100th failure
		from("192.0.2.201").Do(t, login, right).RequireError(t, "RATE_LIMITED")
		// Another account is not affected.
		other := srv.Register(t, "CUSTOMER")
		from("192.0.2.201").MustDo(t, login, map[string]any{"e": other.Email, "p": other.Password}, nil)
	})
}
