package main

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// report collects the table's rows as the phases produce them.
type report struct {
	mu      sync.Mutex
	machine []string
	command string
	build   string // the binary's name in an A/B run
	costs   *costs
	rows    [][4]string // phase, metric, result, goal
	details []string    // further markdown sections (per-operation latencies, profiles)
}

// add appends a row; goal is empty or says whether it was met.
func (r *report) add(phase, metric, result, goal string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, [4]string{phase, metric, result, goal})
}

// section appends a markdown section printed after the table.
func (r *report) section(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.details = append(r.details, strings.TrimRight(text, "\n"))
}

func (r *report) print(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(w, "## jobsphere-bench")
	fmt.Fprintln(w)
	for _, m := range r.machine {
		fmt.Fprintf(w, "- %s\n", m)
	}
	fmt.Fprintf(w, "- command: `%s`\n", r.command)
	if r.build != "" {
		fmt.Fprintf(w, "- server: %s\n", r.build)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | metric | result | goal |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, row := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", row[0], row[1], escapeCell(row[2]), row[3])
	}
	for _, d := range r.details {
		fmt.Fprintln(w)
		fmt.Fprintln(w, d)
	}
}

func escapeCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// goal formats a goal and whether the result met it.
func goal(text string, met bool) string {
	if met {
		return text + " ✅"
	}
	return text + " ❌"
}

// recorder keeps one worker's latencies and errors by operation; merge
// them after the workers are done.
type recorder struct {
	lat  map[string][]time.Duration
	errs map[string]int // "operation: CODE message"
}

func newRecorder() *recorder {
	return &recorder{lat: map[string][]time.Duration{}, errs: map[string]int{}}
}

// observe records one operation that took d; a failed one counts as an
// error, not a latency.
func (r *recorder) observe(op string, d time.Duration, err error) {
	if err != nil {
		msg := err.Error()
		if len(msg) > 120 {
			msg = msg[:120] + "…"
		}
		r.errs[op+": "+msg]++
		return
	}
	r.lat[op] = append(r.lat[op], d)
}

// time runs fn and observes it under op.
func (r *recorder) time(op string, fn func() error) error {
	start := time.Now()
	err := fn()
	r.observe(op, time.Since(start), err)
	return err
}

func (r *recorder) merge(o *recorder) {
	for k, v := range o.lat {
		r.lat[k] = append(r.lat[k], v...)
	}
	for k, v := range o.errs {
		r.errs[k] += v
	}
}

// all returns every latency, sorted.
func (r *recorder) all(ops ...string) []time.Duration {
	var out []time.Duration
	for k, v := range r.lat {
		if len(ops) == 0 || slices.Contains(ops, k) {
			out = append(out, v...)
		}
	}
	slices.Sort(out)
	return out
}

func (r *recorder) count(ops ...string) int {
	n := 0
	for k, v := range r.lat {
		if len(ops) == 0 || slices.Contains(ops, k) {
			n += len(v)
		}
	}
	return n
}

func (r *recorder) errorCount() int {
	n := 0
	for _, v := range r.errs {
		n += v
	}
	return n
}

// errorSummary lists the distinct errors, most frequent first.
func (r *recorder) errorSummary() string {
	if len(r.errs) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(r.errs))
	for k := range r.errs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return r.errs[keys[i]] > r.errs[keys[j]] })
	parts := []string{fmt.Sprint(r.errorCount())}
	for i, k := range keys {
		if i == 3 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %s", r.errs[k], k))
	}
	return strings.Join(parts, "; ")
}

// table is a markdown table of the operations' counts and latencies, in
// the given order.
func (r *recorder) table(title string, elapsed time.Duration, ops []string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "### %s\n\n| operation | count | per second | p50 | p99 | max |\n|---|---|---|---|---|---|\n", title)
	for _, op := range ops {
		l := r.all(op)
		if len(l) == 0 {
			continue
		}
		fmt.Fprintf(&sb, "| %s | %d | %.1f | %s | %s | %s |\n", op, len(l), rate(len(l), elapsed),
			ms(percentile(l, 0.50)), ms(percentile(l, 0.99)), ms(l[len(l)-1]))
	}
	return sb.String()
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f < 10:
		return fmt.Sprintf("%.2f ms", f)
	case f < 1000:
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.0f ms", f)
}

// p50p99 formats the median and 99th percentile of sorted latencies.
func p50p99(sorted []time.Duration) string {
	return ms(percentile(sorted, 0.50)) + " / " + ms(percentile(sorted, 0.99))
}

// bytesIEC formats a byte count.
func bytesIEC(n int64) string {
	f := float64(n)
	switch {
	case math.Abs(f) >= 1<<30:
		return fmt.Sprintf("%.2f GiB", f/(1<<30))
	case math.Abs(f) >= 1<<20:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case math.Abs(f) >= 1<<10:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// printAB is the A/B table of a run with -baseline: every row of the two
// reports side by side (matched by phase and metric), then what each
// operation cost the server in each build.
func printAB(w io.Writer, a, b *report) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(w, "## A/B: %s → %s\n\n| phase | metric | %s | %s | ÷ |\n|---|---|---|---|---|\n", a.build, b.build, a.build, b.build)
	base := map[[2]string]string{}
	for _, row := range a.rows {
		base[[2]string{row[0], row[1]}] = row[2]
	}
	for _, row := range b.rows {
		was := base[[2]string{row[0], row[1]}]
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", row[0], row[1], escapeCell(was), escapeCell(row[2]), ratio(was, row[2]))
	}
	if a.costs == nil || b.costs == nil {
		return
	}
	fmt.Fprintf(w, "\n| operation | statements | round trips | server CPU |\n|---|---|---|---|\n")
	before := map[string]serverCost{}
	for _, r := range a.costs.rows {
		before[r.op] = r.cost
	}
	for _, r := range b.costs.rows {
		was := before[r.op]
		fmt.Fprintf(w, "| %s | %.1f → %.1f | %.1f → %.1f | %.2f → %.2f ms |\n", r.op,
			was.statements, r.cost.statements, was.roundTrips, r.cost.roundTrips, was.cpuSeconds*1000, r.cost.cpuSeconds*1000)
	}
}

// leadingNumber reads the number a result cell starts with ("417.0 (…)",
// "64.2 ms / …").
var leadingNumber = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?`)

// ratio is now ÷ was for two cells that start with numbers, else empty.
func ratio(was, now string) string {
	a, errA := strconv.ParseFloat(leadingNumber.FindString(was), 64)
	b, errB := strconv.ParseFloat(leadingNumber.FindString(now), 64)
	if errA != nil || errB != nil || a == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", b/a)
}
