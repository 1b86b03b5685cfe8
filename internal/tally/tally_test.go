package tally_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/tally"
	"github.com/byok-go/byok/internal/testkit"
)

// key is a test key: a user and a label; keys of one user share a shard.
type key struct {
	user  string
	label string
}

func compareKeys(a, b key) int {
	return cmp.Or(strings.Compare(a.user, b.user), strings.Compare(a.label, b.label))
}

// store is a Send that adds counts up, records each call's size, and fails while err
// is set.
type store struct {
	mu    sync.Mutex
	err   error
	sums  map[key]int64
	calls [][]tally.Count[key]
}

func (s *store) send(_ context.Context, counts []tally.Count[key]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, slices.Clone(counts))
	if s.err != nil {
		return s.err
	}
	if s.sums == nil {
		s.sums = map[key]int64{}
	}
	for _, c := range counts {
		s.sums[c.Key] += c.N
	}
	return nil
}

func (s *store) failWith(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *store) sum(k key) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sums[k]
}

func (s *store) callSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	sizes := make([]int, len(s.calls))
	for i, c := range s.calls {
		sizes[i] = len(c)
	}
	return sizes
}

// fixture is a Counter over a store that flushes when the test sends a tick.
type fixture struct {
	c       *tally.Counter[key]
	store   *store
	ticks   chan time.Time
	flushed chan error
}

func newFixture(t *testing.T, edit func(*tally.Config[key])) *fixture {
	t.Helper()
	f := &fixture{store: &store{}, ticks: make(chan time.Time), flushed: make(chan error, 16)}
	cfg := tally.Config[key]{
		Send:    f.store.send,
		Compare: compareKeys,
		Every:   time.Hour,
		Ticks:   f.ticks,
		Timeout: time.Minute,
		Flushed: func(err error) { f.flushed <- err },
	}
	if edit != nil {
		edit(&cfg)
	}
	f.c = tally.New(cfg)
	t.Cleanup(func() {
		f.store.failWith(nil)
		_ = f.c.Close(context.Background())
	})
	return f
}

// tick makes the goroutine flush once and returns the outcome.
func (f *fixture) tick(t *testing.T) error {
	t.Helper()
	return testkit.Flush(t, f.ticks, f.flushed)
}

func (f *fixture) add(t *testing.T, k key, n int) {
	t.Helper()
	for range n {
		require.Equal(t, tally.Counted, addTo(f.c, k))
	}
}

// addTo adds k to c, under the shard of its user.
func addTo(c *tally.Counter[key], k key) tally.Outcome { return c.Add(k.user, k) }

func held(c *tally.Counter[key]) [2]int64 {
	keys, n := c.Held()
	return [2]int64{keys, n}
}

var errStore = errors.New("store down")

func TestCounter_flushSendsEachKeyOnceInOrder(t *testing.T) {
	f := newFixture(t, nil)
	f.add(t, key{"b", "x"}, 2)
	f.add(t, key{"a", "y"}, 1)
	f.add(t, key{"a", "x"}, 3)
	assert.Empty(t, f.store.callSizes(), "counting never calls Send")
	assert.Equal(t, [2]int64{3, 6}, held(f.c))

	require.NoError(t, f.tick(t))
	require.Len(t, f.store.calls, 1)
	assert.Equal(t, []tally.Count[key]{{key{"a", "x"}, 3}, {key{"a", "y"}, 1}, {key{"b", "x"}, 2}}, f.store.calls[0])
	assert.Equal(t, [2]int64{0, 0}, held(f.c))

	require.NoError(t, f.tick(t))
	assert.Len(t, f.store.calls, 1, "nothing counted, no call")
}

func TestCounter_failedSendKeepsAndMerges(t *testing.T) {
	f := newFixture(t, nil)
	a, b := key{"a", "x"}, key{"b", "x"}
	f.add(t, a, 3)
	f.store.failWith(errStore)
	require.ErrorIs(t, f.tick(t), errStore, "Send's error as it is")
	assert.Equal(t, [2]int64{1, 3}, held(f.c), "kept")

	f.add(t, a, 2) // merges into the kept count at the next flush
	f.add(t, b, 1)
	assert.Equal(t, [2]int64{3, 6}, held(f.c), "a is counted in pending and in its shard until they merge")
	require.ErrorIs(t, f.tick(t), errStore)
	assert.Equal(t, [2]int64{2, 6}, held(f.c), "merged")

	f.store.failWith(nil)
	require.NoError(t, f.tick(t))
	assert.Equal(t, int64(5), f.store.sum(a), "each occurrence once")
	assert.Equal(t, int64(1), f.store.sum(b))
	assert.Equal(t, [2]int64{0, 0}, held(f.c))
}

func TestCounter_batches(t *testing.T) {
	f := newFixture(t, func(c *tally.Config[key]) { c.Batch = 4 })
	for i := range 10 {
		f.add(t, key{fmt.Sprintf("u-%02d", i), "x"}, 1)
	}
	require.NoError(t, f.tick(t))
	assert.Equal(t, []int{4, 4, 2}, f.store.callSizes())
	var users []string
	for _, call := range f.store.calls {
		for _, c := range call {
			users = append(users, c.Key.user)
		}
	}
	assert.True(t, slices.IsSorted(users), "batches follow Compare: %v", users)
	assert.Len(t, users, 10)
}

// A failing batch ends the flush: the batches before it are stored and leave, it and
// those after it stay.
func TestCounter_failingBatchKeepsTheRest(t *testing.T) {
	var calls atomic.Int32
	s := &store{}
	f := newFixture(t, func(c *tally.Config[key]) {
		c.Batch = 2
		c.Send = func(ctx context.Context, counts []tally.Count[key]) error {
			if calls.Add(1) == 2 {
				return errStore
			}
			return s.send(ctx, counts)
		}
	})
	for i := range 5 {
		f.add(t, key{fmt.Sprintf("u-%d", i), "x"}, 1)
	}
	require.ErrorIs(t, f.tick(t), errStore)
	assert.Equal(t, [2]int64{3, 3}, held(f.c))
	require.NoError(t, f.tick(t))
	for i := range 5 {
		assert.Equal(t, int64(1), s.sum(key{fmt.Sprintf("u-%d", i), "x"}))
	}
}

func TestCounter_bound(t *testing.T) {
	f := newFixture(t, func(c *tally.Config[key]) { c.Max = 3 })
	for _, u := range []string{"u-1", "u-2", "u-3"} {
		f.add(t, key{u, "x"}, 1)
	}
	assert.Equal(t, tally.Full, addTo(f.c, key{"u-4", "x"}))
	assert.Equal(t, tally.Full, addTo(f.c, key{"u-1", "y"}), "a new key of a held user is a new key")
	f.add(t, key{"u-1", "x"}, 2) // a held key keeps counting past the bound
	assert.Equal(t, [2]int64{3, 5}, held(f.c))

	// Kept counts still take room.
	f.store.failWith(errStore)
	require.Error(t, f.tick(t))
	assert.Equal(t, tally.Full, addTo(f.c, key{"u-5", "x"}))

	// A flush that succeeds makes room again.
	f.store.failWith(nil)
	require.NoError(t, f.tick(t))
	f.add(t, key{"u-6", "x"}, 1)
	assert.Equal(t, int64(3), f.store.sum(key{"u-1", "x"}))
	assert.Zero(t, f.store.sum(key{"u-4", "x"})+f.store.sum(key{"u-5", "x"}))
}

func TestCounter_close(t *testing.T) {
	f := newFixture(t, nil)
	f.add(t, key{"a", "x"}, 2)
	f.store.failWith(errStore)
	require.ErrorIs(t, f.c.Close(t.Context()), errStore, "Close flushes")
	assert.Equal(t, tally.Closed, addTo(f.c, key{"a", "x"}), "no counting after Close")
	assert.Equal(t, tally.Closed, addTo(f.c, key{"b", "x"}))
	select {
	case <-f.c.Done():
	default:
		t.Fatal("the goroutine runs on after Close")
	}

	f.store.failWith(nil)
	require.NoError(t, f.c.Close(t.Context()), "Close again sends what was kept")
	assert.Equal(t, int64(2), f.store.sum(key{"a", "x"}))
	require.NoError(t, f.c.Close(t.Context()), "and then has nothing to send")
	assert.Len(t, f.store.calls, 2)
}

// hanging is a Send that blocks until release is closed, or, with honorCtx, until its
// ctx ends.
type hanging struct {
	honorCtx bool
	entered  chan struct{}
	release  chan struct{}
	inner    *store
}

func (h *hanging) send(ctx context.Context, counts []tally.Count[key]) error {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	if h.honorCtx {
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		<-h.release
	}
	return h.inner.send(ctx, counts)
}

func TestCounter_periodicFlushIsBoundedByTimeout(t *testing.T) {
	h := &hanging{honorCtx: true, entered: make(chan struct{}, 1), release: make(chan struct{}), inner: &store{}}
	f := newFixture(t, func(c *tally.Config[key]) { c.Send, c.Timeout = h.send, 10*time.Millisecond })
	f.add(t, key{"a", "x"}, 2)
	require.ErrorIs(t, f.tick(t), context.DeadlineExceeded)
	assert.Equal(t, [2]int64{1, 2}, held(f.c), "kept")
	close(h.release)
	require.NoError(t, f.c.Close(t.Context()))
	assert.Equal(t, int64(2), h.inner.sum(key{"a", "x"}))
}

func TestCounter_closeHonorsItsContextWhileSendIgnoresIts(t *testing.T) {
	h := &hanging{entered: make(chan struct{}, 1), release: make(chan struct{}), inner: &store{}}
	f := newFixture(t, func(c *tally.Config[key]) { c.Send = h.send })
	f.add(t, key{"a", "x"}, 2)
	f.ticks <- time.Now()
	select {
	case <-h.entered: // the periodic flush is stuck in Send
	case <-time.After(30 * time.Second):
		t.Fatal("the flush never reached Send")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, f.c.Close(ctx), context.Canceled)
	assert.Equal(t, tally.Closed, addTo(f.c, key{"a", "x"}), "counting stopped at the first Close")
	select {
	case <-f.c.Done():
		t.Fatal("the goroutine cannot have returned: it is in Send")
	default:
	}

	close(h.release)
	require.NoError(t, <-f.flushed)
	require.NoError(t, f.c.Close(t.Context()))
	<-f.c.Done()
	assert.Equal(t, int64(2), h.inner.sum(key{"a", "x"}))
}

func TestCounter_tickerFlushes(t *testing.T) {
	s := &store{}
	flushed := make(chan error, 1)
	c := tally.New(tally.Config[key]{
		Send: s.send, Compare: compareKeys,
		Every: time.Millisecond, Timeout: time.Minute,
		Flushed: func(err error) {
			select {
			case flushed <- err:
			default:
			}
		},
	})
	require.Equal(t, tally.Counted, addTo(c, key{"a", "x"}))
	for s.sum(key{"a", "x"}) == 0 {
		select {
		case err := <-flushed:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("the ticker never flushed")
		}
	}
	require.NoError(t, c.Close(t.Context()))
	<-c.Done()
}

func TestCounter_concurrent(t *testing.T) {
	f := newFixture(t, nil)
	const workers, perWorker = 8, 500
	users := []string{"u-1", "u-2", "u-3", "u-4"}
	stop := make(chan struct{})
	var flushes sync.WaitGroup
	flushes.Go(func() {
		for {
			select {
			case <-stop:
				return
			case f.ticks <- time.Now():
				<-f.flushed
			}
		}
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if got := addTo(f.c, key{users[(w+i)%len(users)], "x"}); got != tally.Counted {
					t.Errorf("Add = %d", got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	flushes.Wait()
	require.NoError(t, f.c.Close(t.Context()))
	for _, u := range users {
		assert.Equal(t, int64(workers*perWorker/len(users)), f.store.sum(key{u, "x"}), u)
	}
}
