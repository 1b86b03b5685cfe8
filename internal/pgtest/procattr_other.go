//go:build !unix

package pgtest

import "syscall"

// watchdogAttr is the default elsewhere; the watchdog needs /bin/sh anyway.
func watchdogAttr() *syscall.SysProcAttr { return nil }
