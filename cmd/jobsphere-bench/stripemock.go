package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// stripeMock starts stripe-mock (the Go tool pinned in go.mod) once per
// run and returns its base URL.
func (b *bench) stripeMock(ctx context.Context) (string, error) {
	b.mu.Lock()
	if u := b.stripeURL; u != "" {
		b.mu.Unlock()
		return u, nil
	}
	b.mu.Unlock()
	out, err := b.command(ctx, b.repo, "go", "tool", "-n", "github.com/stripe/stripe-mock")
	if err != nil {
		return "", err
	}
	path := strings.TrimSpace(out)
	cmd := exec.Command(path, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = io.Discard
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start stripe-mock: %w", err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	b.defer_(func() { p.stop(time.Second) })

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// Keep reading to the end: stripe-mock logs every request.
			if rest, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				select {
				case addr <- strings.TrimSpace(rest):
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		b.mu.Lock()
		b.stripeURL = "http://" + a
		b.mu.Unlock()
		return "http://" + a, nil
	case <-p.exited:
		return "", fmt.Errorf("stripe-mock exited: %v", p.err)
	case <-time.After(30 * time.Second):
		return "", errors.New("stripe-mock did not start listening within 30s")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
