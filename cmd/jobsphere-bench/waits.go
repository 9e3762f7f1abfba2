package main

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// sampleWaits samples, every 50 ms until stop is called, what the
// sessions of dbURL's database are doing (pg_stat_activity: running, or
// the event they wait on). stop returns the tally as a markdown section:
// where PostgreSQL spends the phase's time.
func (b *bench) sampleWaits(ctx context.Context, dbURL, phase string) (stop func() string) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return func() string { return "" }
	}
	name := strings.TrimPrefix(u.Path, "/")
	ctx, cancel := context.WithCancel(ctx)
	counts := map[string]int{}
	samples := 0
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if ctx.Err() != nil {
				return
			}
			rows, err := b.admin.QueryContext(ctx, `SELECT coalesce(wait_event_type || ': ' || wait_event, 'running (CPU)'), count(*)
FROM pg_stat_activity WHERE datname = $1 AND state NOT IN ('idle') AND backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY 1`, name)
			if err != nil {
				continue
			}
			samples++
			for rows.Next() {
				var what string
				var n int
				if rows.Scan(&what, &n) == nil {
					counts[what] += n
				}
			}
			rows.Close()
		}
	})
	return func() string {
		cancel()
		wg.Wait()
		if samples == 0 {
			return ""
		}
		keys := make([]string, 0, len(counts))
		total := 0
		for k, v := range counts {
			keys = append(keys, k)
			total += v
		}
		sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
		var sb strings.Builder
		fmt.Fprintf(&sb, "### PostgreSQL sessions during %s (pg_stat_activity, %d samples every 50 ms)\n\n", phase, samples)
		sb.WriteString("| non-idle sessions were | average sessions | share |\n|---|---|---|\n")
		for i, k := range keys {
			if i == 12 {
				break
			}
			fmt.Fprintf(&sb, "| %s | %.2f | %.0f%% |\n", k, float64(counts[k])/float64(samples), 100*float64(counts[k])/float64(max(total, 1)))
		}
		return sb.String()
	}
}
