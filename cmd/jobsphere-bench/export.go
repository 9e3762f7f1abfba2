package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/jobsphere/jobsphere/app/database"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger/ledgertest"
)

// exportPhase: one user with a history of -export-transactions
// transactions (deposits and holds, written in bulk on the server's
// database), then GET /api/statements.csv of all of it, read row by row
// as it streams. It reports rows/s and the server's memory before and at
// its peak during the export (RSS sampled every 10 ms, Go heap in use from
// /metrics every 100 ms), which stays flat whatever the size; the rows are
// counted against the history, the last balance checked against the
// wallet, and the ledger verified.
func (b *bench) exportPhase(ctx context.Context, rep *report) error {
	n := b.opts.exportTransactions
	t, err := b.phaseServer(ctx, "export", false)
	if err != nil {
		return err
	}
	defer t.stop()
	c := newClient(t.url, 4)
	defer c.close()
	u, err := c.register(ctx, b.runID, "CUSTOMER", 0)
	if err != nil {
		return fmt.Errorf("sign-up: %w", err)
	}

	b.logf("export: writing %d transactions", n)
	db, client, err := database.OpenPostgres(t.env["DATABASE_URL"], 4, database.OpenDB)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now().Add(-time.Duration(n)*time.Second - time.Hour)
	written := time.Now()
	h, err := ledgertest.WriteHistory(ctx, client, pulid.ID(u.ID), n, start, time.Second)
	if err != nil {
		return err
	}
	rep.add("export", "history written in bulk (transactions / their postings on the user's accounts)",
		fmt.Sprintf("%d / %d in %s", h.Transactions, h.Lines, time.Since(written).Round(time.Millisecond)), "")

	time.Sleep(time.Second) // let the server settle after start-up
	rssBefore, err := processRSS(t.pid)
	if err != nil {
		return err
	}
	metricsBefore, _ := c.metrics(ctx)
	peak := b.sampleMemory(ctx, c, t.pid)

	b.logf("export: GET /api/statements.csv of %d lines", h.Lines)
	b.waitQuiet(ctx)
	stopCPU := b.cpuWindow()
	began := time.Now()
	got, err := readExport(ctx, t.url, u.Token, start, time.Now().Add(time.Minute))
	elapsed := time.Since(began)
	cpu := stopCPU()
	rss, heap := peak()
	if err != nil {
		return err
	}
	r := rate(got.rows, elapsed)
	rep.add("export", fmt.Sprintf("rows/s (%d rows, %s of CSV)", got.rows, bytesIEC(got.bytes)),
		fmt.Sprintf("%.0f in %s, first byte after %s", r, elapsed.Round(time.Millisecond), ms(got.firstByte)), "")
	rep.add("export", "server RSS before → peak during the export", fmt.Sprintf("%s → %s (+%s)", bytesIEC(rssBefore), bytesIEC(rss), bytesIEC(rss-rssBefore)),
		goal("+ ≤ 64 MiB, whatever the size", rss-rssBefore <= 64<<20))
	if metricsBefore != nil && heap > 0 {
		rep.add("export", "server Go heap in use before → peak during the export",
			bytesIEC(int64(metricsBefore["go_memstats_heap_inuse_bytes"]))+" → "+bytesIEC(int64(heap)), "")
	}
	rep.add("export", "CPU meanwhile; \"others\" are not this run's", cpu, "")

	var w struct{ Wallet struct{ Balance string } }
	if err := c.do(ctx, u.Token, "", `{ wallet { balance } }`, nil, &w); err != nil {
		return err
	}
	check := "OK"
	switch {
	case got.rows != h.Lines:
		check = fmt.Sprintf("%d rows, the history has %d lines", got.rows, h.Lines)
	case got.lastAvailable != w.Wallet.Balance:
		check = fmt.Sprintf("the export ends at available %s, the wallet has %s", got.lastAvailable, w.Wallet.Balance)
	}
	if err := b.ledgerVerify(ctx, t); err != nil {
		check = "ledger verify FAILED: " + err.Error()
	}
	rep.add("export", "every row, ending at the wallet; ledger verify", check, goal("OK", check == "OK"))
	return nil
}

// exported is what readExport read.
type exported struct {
	rows          int
	bytes         int64
	firstByte     time.Duration
	lastAvailable string // the last AVAILABLE row's balance_after
}

// readExport downloads the statement export of [from, to) and parses it
// as it arrives, keeping nothing but counts.
func readExport(ctx context.Context, base, token string, from, to time.Time) (exported, error) {
	var got exported
	q := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/statements.csv?"+q.Encode(), nil)
	if err != nil {
		return got, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return got, err
	}
	defer resp.Body.Close()
	got.firstByte = time.Since(began)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return got, fmt.Errorf("export: HTTP %d: %s", resp.StatusCode, body)
	}
	var size byteCount
	rows := csv.NewReader(io.TeeReader(resp.Body, &size))
	rows.ReuseRecord = true
	if _, err := rows.Read(); err != nil { // the header row
		return got, fmt.Errorf("export: header: %w", err)
	}
	for {
		row, err := rows.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return got, fmt.Errorf("export: row %d: %w", got.rows+1, err)
		}
		got.rows++
		if row[4] == "AVAILABLE" {
			got.lastAvailable = row[6]
		}
	}
	got.bytes = int64(size)
	return got, nil
}

// byteCount counts what is written to it.
type byteCount int64

func (c *byteCount) Write(p []byte) (int, error) { *c += byteCount(len(p)); return len(p), nil }

// sampleMemory samples the server's RSS every 10 ms and its Go heap in
// use every 100 ms until the returned stop, which gives the peaks (heap 0
// when /metrics does not answer).
func (b *bench) sampleMemory(ctx context.Context, c *client, pid int) (stop func() (rss int64, heap float64)) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg       sync.WaitGroup
		peakRSS  int64
		peakHeap float64
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		every(ctx, 10*time.Millisecond, func() {
			if v, err := processRSS(pid); err == nil {
				peakRSS = max(peakRSS, v)
			}
		})
	}()
	go func() {
		defer wg.Done()
		every(ctx, 100*time.Millisecond, func() {
			if m, err := c.metrics(ctx); err == nil {
				peakHeap = max(peakHeap, m["go_memstats_heap_inuse_bytes"])
			}
		})
	}()
	return func() (int64, float64) {
		cancel()
		wg.Wait()
		return peakRSS, peakHeap
	}
}

// every calls fn at once and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
