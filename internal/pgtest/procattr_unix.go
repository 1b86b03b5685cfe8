//go:build unix

package pgtest

import "syscall"

// watchdogAttr puts the watchdog in its own process group.
func watchdogAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
