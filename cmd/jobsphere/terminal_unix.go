//go:build linux || darwin || freebsd || netbsd || openbsd

package main

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// takeTerminal puts this process in a process group of its own and makes
// that group the terminal's foreground one, so that the terminal's Ctrl-C
// (SIGINT) reaches the server alone: `make run` then sees the server's
// clean exit instead of being interrupted itself. Without a terminal
// there is nothing to take. restore gives the terminal back to the group
// it came from.
func takeTerminal() (restore func(), err error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return func() {}, nil
	}
	fd := int(tty.Fd())
	prev, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil {
		tty.Close()
		return nil, fmt.Errorf("read the terminal's foreground group: %w", err)
	}
	if err := unix.Setpgid(0, 0); err != nil {
		tty.Close()
		return nil, fmt.Errorf("make a process group: %w", err)
	}
	// A group not in the foreground may change the foreground only while
	// ignoring SIGTTOU; giving the terminal back at the end needs it too.
	signal.Ignore(unix.SIGTTOU)
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, unix.Getpgrp()); err != nil {
		tty.Close()
		return nil, fmt.Errorf("take the terminal: %w", err)
	}
	return func() {
		_ = unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, prev)
		tty.Close()
	}, nil
}
