package main

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// createDatabase makes an empty database, dropped at close (unless -keep).
func (b *bench) createDatabase(ctx context.Context, tag string) (string, error) {
	name := "jobsphere_bench_" + b.runID + "_" + tag
	if _, err := b.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	b.defer_(func() {
		if b.opts.keep {
			b.logf("kept database %s", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := b.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			b.logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(b.opts.databaseURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redact hides a URL's password.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
