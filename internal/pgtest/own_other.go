//go:build !unix

package pgtest

import "errors"

var errNoSignals = errors.New("pgtest: Stop and Continue need a Unix system")

func stopProcess(int) error     { return errNoSignals }
func continueProcess(int) error { return errNoSignals }
