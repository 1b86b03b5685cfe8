package peek_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/peek"
	"github.com/byok-go/byok/internal/testkit"
)

// owner records what its Body tells it. With drain set, ClosedEarly drains on a
// goroutine of its own and records the outcome; otherwise it declines.
type owner struct {
	peek.Body
	drain   bool
	timeout time.Duration

	mu      sync.Mutex
	wholes  [][]byte
	early   int
	drained chan drained
}

type drained struct {
	prefix []byte
	whole  bool
}

func newOwner(rc io.ReadCloser, limit int, drain bool) *owner {
	o := &owner{drain: drain, timeout: time.Minute, drained: make(chan drained, 1)}
	o.Init(rc, limit, o)
	return o
}

func (o *owner) Whole(prefix []byte) {
	o.mu.Lock()
	o.wholes = append(o.wholes, prefix)
	o.mu.Unlock()
}

func (o *owner) ClosedEarly() bool {
	o.mu.Lock()
	o.early++
	o.mu.Unlock()
	if !o.drain {
		return false
	}
	go func() {
		prefix, whole := o.Drain(o.timeout)
		o.drained <- drained{prefix, whole}
	}()
	return true
}

func (o *owner) told() (wholes [][]byte, early int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.wholes, o.early
}

// closer records whether it was closed.
type closer struct {
	io.Reader
	mu     sync.Mutex
	closes int
}

func (c *closer) Close() error {
	c.mu.Lock()
	c.closes++
	c.mu.Unlock()
	return nil
}

func (c *closer) closed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closes
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.IntN(256))
	}
	return b
}

// The reader reads every byte as sent, however it reads; the owner is told of the first
// limit bytes once, when the reader reaches them or the end.
func TestBody_passesEveryByteAndCopiesThePrefix(t *testing.T) {
	const limit = 1 << 10
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	}
	for _, body := range [][]byte{randomBytes(100), randomBytes(limit), randomBytes(5 * limit), {}} {
		for name, wrap := range readers {
			t.Run(fmt.Sprintf("%d bytes/%s", len(body), name), func(t *testing.T) {
				rc := &closer{Reader: bytes.NewReader(body)}
				o := newOwner(rc, limit, false)
				got, err := io.ReadAll(wrap(o))
				require.NoError(t, err)
				assert.True(t, bytes.Equal(body, got), "the reader reads what was sent")
				n, err := o.Read(make([]byte, 8))
				assert.Zero(t, n)
				assert.Equal(t, io.EOF, err, "EOF again after the end")
				require.NoError(t, o.Close())
				require.NoError(t, o.Close(), "a second Close is harmless")
				_, err = o.Read(make([]byte, 8))
				assert.Error(t, err, "reading after Close fails")
				assert.Equal(t, 1, rc.closed())

				wholes, early := o.told()
				assert.Zero(t, early)
				require.Len(t, wholes, 1, "an empty body is whole too")
				assert.True(t, bytes.Equal(body[:min(len(body), limit)], wholes[0]), "the prefix is the first bytes: %q", wholes[0])
			})
		}
	}
}

// The owner hears of the prefix as soon as the limit is read, not at the end.
func TestBody_wholeAtTheLimit(t *testing.T) {
	body := randomBytes(100)
	o := newOwner(&closer{Reader: bytes.NewReader(body)}, 10, false)
	_, err := io.ReadFull(o, make([]byte, 10))
	require.NoError(t, err)
	wholes, _ := o.told()
	require.Len(t, wholes, 1)
	assert.Equal(t, body[:10], wholes[0])
}

// A body whose Read fails says nothing, and its Close is not early.
func TestBody_readErrorAbandons(t *testing.T) {
	rc := &closer{Reader: io.MultiReader(strings.NewReader("part"), iotest.ErrReader(errors.New("connection reset")))}
	o := newOwner(rc, 1<<10, true)
	_, err := io.ReadAll(o)
	require.Error(t, err)
	require.NoError(t, o.Close())
	wholes, early := o.told()
	assert.Empty(t, wholes)
	assert.Zero(t, early)
	assert.Equal(t, 1, rc.closed())
}

// Closed early: an owner that declines has the body closed at once; one that drains
// gets the prefix, read on to the end.
func TestBody_closedEarly(t *testing.T) {
	t.Run("declined", func(t *testing.T) {
		rc := &closer{Reader: strings.NewReader("the whole answer")}
		o := newOwner(rc, 1<<10, false)
		require.NoError(t, o.Close())
		_, early := o.told()
		assert.Equal(t, 1, early)
		assert.Equal(t, 1, rc.closed())
	})
	t.Run("drained", func(t *testing.T) {
		body := randomBytes(3000)
		rc := &closer{Reader: iotest.HalfReader(bytes.NewReader(body))}
		o := newOwner(rc, 1<<20, true)
		_, err := io.ReadFull(o, make([]byte, 7))
		require.NoError(t, err)
		require.NoError(t, o.Close())
		d := <-o.drained
		assert.True(t, d.whole)
		assert.Equal(t, body, d.prefix, "what the reader read and what the drain read")
		assert.Equal(t, 1, rc.closed())
		wholes, early := o.told()
		assert.Empty(t, wholes, "Whole is for the reader's end")
		assert.Equal(t, 1, early)
	})
	t.Run("drained to the limit", func(t *testing.T) {
		body := randomBytes(5000)
		o := newOwner(&closer{Reader: bytes.NewReader(body)}, 1000, true)
		require.NoError(t, o.Close())
		d := <-o.drained
		assert.True(t, d.whole)
		assert.Equal(t, body[:1000], d.prefix)
	})
	t.Run("a reader that answers nothing", func(t *testing.T) {
		o := newOwner(&closer{Reader: emptyReader{}}, 1000, true)
		require.NoError(t, o.Close())
		d := <-o.drained // returns: the drain gives up
		assert.False(t, d.whole)
	})
}

// emptyReader answers every Read with nothing and no error.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// A stalled body closed early: the reader's Close returns at once, and the drain gives
// up after its timeout, closes the body and reports the prefix not whole.
func TestBody_stalledBodyDrainIsBounded(t *testing.T) {
	body := testkit.NewStallingBody("partial")
	o := newOwner(body, 1<<10, true)
	o.timeout = 20 * time.Millisecond
	require.NoError(t, o.Close()) // would hang if Close waited for the body
	d := <-o.drained              // would hang if nothing bounded the drain
	assert.False(t, d.whole)
	assert.Equal(t, "partial", string(d.prefix))
	select {
	case <-body.Closed():
	default:
		t.Fatal("the underlying body was not closed")
	}
}

// Close during a Read ends the Read, closes the body at once and tells the owner
// nothing.
func TestBody_closeDuringARead(t *testing.T) {
	body := testkit.NewStallingBody("partial")
	o := newOwner(body, 1<<10, true)
	done := make(chan error)
	go func() {
		_, err := io.ReadAll(o)
		done <- err
	}()
	<-body.Blocked()
	require.NoError(t, o.Close())
	require.Error(t, <-done)
	wholes, early := o.told()
	assert.Empty(t, wholes)
	assert.Zero(t, early)
}
