//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

func raiseFileLimit(uint64) (uint64, error) { return 0, errors.New("not supported on this system") }

func setDeathSignal(*exec.Cmd) {}

func processRSS(int) (int64, error) { return 0, errors.New("RSS is read from /proc: Linux only") }

type cpuSnapshot struct{}

func takeCPU(string, string) cpuSnapshot { return cpuSnapshot{} }

func cpuUse(cpuSnapshot, cpuSnapshot) map[string]float64 { return nil }
