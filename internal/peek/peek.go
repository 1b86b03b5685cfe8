// Package peek copies aside the first bytes of a body while its reader reads every byte
// unchanged, so that they can be looked at once they are whole.
package peek

import (
	"errors"
	"io"
	"slices"
	"sync"
	"time"
)

// Owner is told what becomes of a [Body]'s prefix. A Body calls it at most once, on its
// reader's goroutine; it must not block.
type Owner interface {
	// Whole is told of the prefix once the reader has read to the end of the body, or
	// the limit. prefix does not change afterwards. A body that ends before its first
	// byte is whole too, with an empty prefix.
	Whole(prefix []byte)
	// ClosedEarly is told that the reader closed the body before the prefix was whole,
	// with no Read in progress. It reports false to have the body closed at once, or
	// true once it has started [Body.Drain] on a goroutine of its own, which from then
	// on owns the body.
	ClosedEarly() bool
}

// errReadAfterClose is what Read returns once the body is closed, as net/http's bodies
// do.
var errReadAfterClose = errors.New("http: read on closed response body")

// Body is a body on its way to its reader. Read passes every byte through unchanged and
// copies the first limit bytes aside; the owner is told of them when the reader reaches
// the end, or the limit (Owner.Whole), or closes the body before that
// (Owner.ClosedEarly), in which case the reader's Close returns at once. A read error,
// or Close during a Read, abandons the copy and the owner is told nothing: a body not
// seen whole says nothing. Nothing here blocks the reader beyond the underlying body's
// own Read.
//
// A Body is embedded in its owner's type, which so becomes the io.ReadCloser handed to
// the reader, and is set up with Init before use.
type Body struct {
	rc    io.ReadCloser
	limit int
	owner Owner

	mu      sync.Mutex // guards the fields below; never held during rc.Read
	buf     []byte     // the first bytes read, at most limit
	reading bool       // a Read of rc is in progress
	done    bool       // buf was handed on or abandoned
	closed  bool
}

// Init sets b up to pass rc through, copying its first limit bytes, and to tell owner.
func (b *Body) Init(rc io.ReadCloser, limit int, owner Owner) {
	b.rc, b.limit, b.owner = rc, limit, owner
}

// Read implements [io.Reader].
func (b *Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, errReadAfterClose
	}
	if b.done { // nothing more to copy
		b.mu.Unlock()
		return b.rc.Read(p)
	}
	b.reading = true
	b.mu.Unlock()

	n, err := b.rc.Read(p)

	b.mu.Lock()
	b.reading = false
	var whole []byte
	tell := false
	if !b.done {
		if room := b.limit - len(b.buf); room > 0 {
			b.buf = append(b.buf, p[:min(n, room)]...)
		}
		switch {
		case err == io.EOF || len(b.buf) >= b.limit:
			b.done, whole, tell = true, b.buf, true
		case err != nil:
			b.done = true
		}
	}
	b.mu.Unlock()
	if tell {
		b.owner.Whole(whole)
	}
	return n, err
}

// Close implements [io.Closer].
func (b *Body) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.done || b.reading {
		b.done = true
		b.mu.Unlock()
		return b.rc.Close()
	}
	b.done = true
	b.mu.Unlock()
	if !b.owner.ClosedEarly() {
		return b.rc.Close()
	}
	return nil
}

// Drain reads on towards the limit a body its reader closed early, for at most timeout,
// closes it, and returns the prefix and whether it is whole (it reached the end of the
// body, or the limit). It is for the goroutine that Owner.ClosedEarly started, which
// owns the body.
func (b *Body) Drain(timeout time.Duration) (prefix []byte, whole bool) {
	stop := time.AfterFunc(timeout, func() { _ = b.rc.Close() }) // unblocks a stalled Read
	buf := b.buf
	var err error
	for empty := 0; len(buf) < b.limit && err == nil && empty < 100; {
		if cap(buf) == len(buf) {
			buf = slices.Grow(buf, min(b.limit-len(buf), max(512, len(buf))))
		}
		var n int
		n, err = b.rc.Read(buf[len(buf):min(cap(buf), b.limit)])
		buf = buf[:len(buf)+n]
		if n == 0 {
			empty++ // a Reader that keeps answering nothing: give up, as bufio does
		}
	}
	stop.Stop()
	_ = b.rc.Close()
	return buf, err == io.EOF || len(buf) >= b.limit
}
