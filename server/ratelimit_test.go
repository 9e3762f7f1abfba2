package server_test

import (
	"fmt"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestSignUpAndSignInLimitsPerAddress: one address may sign up
// REGISTER_LIMIT_PER_ADDRESS times an hour and sign in
// LOGIN_LIMIT_PER_ADDRESS times a quarter hour, whatever the emails; behind
// TRUSTED_PROXY_HOPS proxies the address comes from X-Forwarded-For, and a
// client cannot forge its way past the limit.
func TestSignUpAndSignInLimitsPerAddress(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	env["REGISTER_LIMIT_PER_ADDRESS"] = "3"
	env["LOGIN_LIMIT_PER_ADDRESS"] = "4"
	env["TRUSTED_PROXY_HOPS"] = "1"
	srv := servertest.Start(t, env)

	register := `mutation($e: String!) { register(input: {email: $e, password: "Passw0rd!", name: "Lim Iter", role: CUSTOMER}) { user { id } } }`
	login := `mutation($e: String!) { login(input: {email: $e, password: "wrong-Passw0rd"}) { user { id } } }`
	from := func(forwardedFor string) *servertest.Client {
		c := srv.Client("")
		c.Header.Set("X-Forwarded-For", forwardedFor)
		return c
	}
	// The proxy appends the address it saw; what the client wrote is left of it.
	a := from("10.0.0.1")
	forged := func(i int) *servertest.Client { return from(fmt.Sprintf("203.0.113.%d, 10.0.0.1", i)) }
	for i := range 3 {
		forged(i).MustDo(t, register, map[string]any{"e": fmt.Sprintf("a%d@limits.test", i)}, nil)
	}
	r := a.Do(t, register, map[string]any{"e": "a9@limits.test"})
	if e := r.RequireError(t, "RATE_LIMITED"); e.Extensions["retryAfterSeconds"] == nil {
		t.Fatalf("no retryAfterSeconds: %+v", e)
	}
	from("10.0.0.2").MustDo(t, register, map[string]any{"e": "b@limits.test"}, nil) // another address

	for i := range 4 {
		forged(i).Do(t, login, map[string]any{"e": fmt.Sprintf("a%d@limits.test", i)}).RequireError(t, "UNAUTHENTICATED")
	}
	a.Do(t, login, map[string]any{"e": "b@limits.test"}).RequireError(t, "RATE_LIMITED")
	from("10.0.0.2").Do(t, login, map[string]any{"e": "b@limits.test"}).RequireError(t, "UNAUTHENTICATED")
}
