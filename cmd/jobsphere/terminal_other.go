//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package main

import "errors"

// takeTerminal: see terminal_unix.go.
func takeTerminal() (restore func(), err error) {
	return nil, errors.New("--foreground needs a Unix terminal")
}
