// Command jobsphere is the JobSphere API server and its operator tools.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second Ctrl-C during the graceful shutdown ends the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	status := exitStatus(err)
	if status == 1 {
		fmt.Fprintln(os.Stderr, "jobsphere:", err)
	}
	os.Exit(status)
}
