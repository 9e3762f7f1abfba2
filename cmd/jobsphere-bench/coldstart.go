package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// coldStartPhase: process start to /readyz OK on a migrated database,
// with AUTO_MIGRATE off (production) and on (a no-op migration), and the
// binary's size.
func (b *bench) coldStartPhase(ctx context.Context, rep *report) error {
	o := b.opts
	env, err := b.phaseEnv(ctx, "coldstart")
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := b.commandEnv(ctx, b.repo, envList(env), b.bin, "migrate"); err != nil {
		return err
	}
	rep.add("coldstart", "`jobsphere migrate` on an empty database", ms(time.Since(start)), "")
	b.waitQuiet(ctx)
	for _, auto := range []string{"false", "true"} {
		env["AUTO_MIGRATE"] = auto
		var took []time.Duration
		for range o.coldStarts {
			t, err := b.startServer(ctx, "coldstart", env)
			if err != nil {
				return err
			}
			took = append(took, t.ready.Sub(t.started))
			t.stop()
		}
		slices.Sort(took)
		rep.add("coldstart", fmt.Sprintf("process start → /readyz 200, migrated database, AUTO_MIGRATE=%s: median (min–max of %d)", auto, len(took)),
			fmt.Sprintf("%s (%s–%s)", ms(percentile(took, 0.5)), ms(took[0]), ms(took[len(took)-1])), "")
	}
	if fi, err := os.Stat(b.bin); err == nil {
		rep.add("coldstart", "binary size (go build, not stripped)", bytesIEC(fi.Size()), "")
	}
	return nil
}
