// Package testkit holds helpers the tests of several packages share. Only tests import
// it.
package testkit

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// StallingBody is an HTTP body that yields its prefix, then blocks in Read until it is
// closed.
type StallingBody struct {
	prefix  *strings.Reader
	closed  chan struct{}
	blocked chan struct{} // closed when a Read first blocks
	once    sync.Once
	block   sync.Once
}

// NewStallingBody returns a StallingBody that yields prefix first.
func NewStallingBody(prefix string) *StallingBody {
	return &StallingBody{prefix: strings.NewReader(prefix), closed: make(chan struct{}), blocked: make(chan struct{})}
}

// Read yields the prefix, then blocks until Close and fails.
func (b *StallingBody) Read(p []byte) (int, error) {
	if b.prefix.Len() > 0 {
		return b.prefix.Read(p)
	}
	b.block.Do(func() { close(b.blocked) })
	<-b.closed
	return 0, errors.New("read on closed body")
}

// Close unblocks Read. It may be called more than once.
func (b *StallingBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// Closed is closed once the body is.
func (b *StallingBody) Closed() <-chan struct{} { return b.closed }

// Blocked is closed once a Read has blocked, the prefix read.
func (b *StallingBody) Blocked() <-chan struct{} { return b.blocked }

// Flush makes a flush goroutine driven by ticks flush once, and returns the outcome it
// reports on flushed. It fails t when either side does not answer within 30 seconds.
func Flush(t testing.TB, ticks chan<- time.Time, flushed <-chan error) error {
	t.Helper()
	select {
	case ticks <- time.Now():
	case <-time.After(30 * time.Second):
		t.Fatal("the flush goroutine does not take ticks")
	}
	select {
	case err := <-flushed:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the flush did not end")
	}
	return nil
}
