package server_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// BenchmarkWalletRead is jobsphere-bench's read (the wallet and a page of
// 20 transactions with their jobs) over HTTP against a real server, on
// PostgreSQL: the server's time and allocations per read, the client's
// included, and the CPU time they take.
//
//	go test ./server/ -run '^$' -bench WalletRead -benchmem
func BenchmarkWalletRead(b *testing.B) {
	servertest.RequirePostgres(b)
	srv := servertest.New(b, servertest.Postgres)
	customer, contractor := srv.Register(b, "CUSTOMER"), srv.Register(b, "CONTRACTOR")
	cc, kc := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken)
	srv.Fund(b, customer.ID, 100000)
	for range 7 {
		var job struct{ CreateJob struct{ ID string } }
		cc.MustDo(b, `mutation { createJob(input: {title: "Paint a fence", description: "Twenty metres of fence", budget: "100"}) { id } }`, nil, &job)
		var app struct{ ApplyToJob struct{ ID string } }
		kc.MustDo(b, `mutation($j: ID!) { applyToJob(input: {jobId: $j}) { id } }`, map[string]any{"j": job.CreateJob.ID}, &app)
		var sent struct {
			SendOffer struct{ Offer struct{ ID string } }
		}
		cc.MustDo(b, `mutation($a: ID!) { sendOffer(input: {applicationId: $a, amount: "100", timeline: "2 days", description: "Paint the whole fence"}) { offer { id } } }`,
			map[string]any{"a": app.ApplyToJob.ID}, &sent)
		kc.MustDo(b, `mutation($o: ID!) { acceptOffer(offerId: $o) { contract { id } } }`, map[string]any{"o": sent.SendOffer.Offer.ID}, nil)
	}
	const read = `query { wallet { id balance escrowBalance pendingDeposits totalEarnings totalSpent totalWithdrawals isFrozen updatedAt }
  transactions(first: 20) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id type status amount currency description createdAt job { id title } } } } }`
	b.ReportAllocs()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for b.Loop() {
		cc.MustDo(b, read, nil, nil)
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	// The process's CPU, server and client alike: wall time per read is
	// mostly waiting for PostgreSQL.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
