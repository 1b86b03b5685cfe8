package usercache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// value is a test user's value: results by key, each with its expiry. Like any value
// in a Cache, it is never modified once stored.
type value struct{ m map[string]entry }

type entry struct {
	r       string
	expires int64
}

// fixture is a Cache of values on a clock that moves only when advance is called.
type fixture struct {
	c      Cache[*value, string]
	users  sync.Map // the Cache's Config.Users
	clock  atomic.Int64
	onLive atomic.Pointer[func(v *value)] // called by Live before it answers, when set
	stores atomic.Int64
}

var errTimeout = errors.New("test: flight timeout")

const ttl = time.Minute

func newFixture(gates ...func() bool) *fixture {
	f := &fixture{}
	f.c.Init(Config[*value, string]{
		TTL:          ttl,
		Users:        &f.users,
		Gates:        gates,
		Clock:        func() time.Duration { return time.Duration(f.clock.Load()) },
		Timeout:      time.Hour,
		TimeoutCause: errTimeout,
		Find:         f.get,
		Store: func(old *value, key, r string, now, expires int64) *value {
			f.stores.Add(1)
			v := &value{m: map[string]entry{key: {r, expires}}}
			if old != nil {
				for k, e := range old.m {
					if k != key && now < e.expires {
						v.m[k] = e
					}
				}
			}
			return v
		},
		Live: func(v *value, now int64) bool {
			if on := f.onLive.Load(); on != nil {
				(*on)(v)
			}
			for _, e := range v.m {
				if now < e.expires {
					return true
				}
			}
			return false
		},
	})
	return f
}

func find(v *value, key string, now int64) (string, bool) {
	e, ok := v.m[key]
	if !ok || now >= e.expires {
		return "", false
	}
	return e.r, true
}

func (f *fixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

// get is a read as a hot path makes it: the map and the clock, no lock.
func (f *fixture) get(user, key string) (string, bool) {
	v, ok := f.users.Load(user)
	if !ok {
		return "", false
	}
	return find(v.(*value), key, f.c.TestClock()())
}

// runs is a flight function that counts its calls, answers key+"@"+the call's number,
// and blocks the calls whose key is in block until release is closed.
type runs struct {
	n       atomic.Int64
	block   map[string]bool
	started chan string // each blocked call's key, once it is blocked
	release chan struct{}
	fail    error
}

func newRuns(block ...string) *runs {
	r := &runs{block: map[string]bool{}, started: make(chan string, 100), release: make(chan struct{})}
	for _, k := range block {
		r.block[k] = true
	}
	return r
}

func (r *runs) run(ctx context.Context, user, key string) (string, error) {
	n := r.n.Add(1)
	if r.block[key] {
		r.started <- key
		select {
		case <-r.release:
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	}
	if r.fail != nil {
		return "", r.fail
	}
	return fmt.Sprintf("%s@%d", key, n), nil
}

func TestShared_storesAndServes(t *testing.T) {
	f := newFixture()
	rs := newRuns()
	if _, ok := f.get("u", "k"); ok {
		t.Fatal("a hit in an empty cache")
	}
	r, err := f.c.Shared(t.Context(), "u", "k", rs.run)
	if err != nil || r != "k@1" {
		t.Fatalf("Shared = %q, %v; want k@1", r, err)
	}
	if got, ok := f.get("u", "k"); !ok || got != "k@1" {
		t.Fatalf("get = %q, %v after the flight stored k@1", got, ok)
	}
	if f.c.Size() != 1 || f.c.InFlight() != 0 {
		t.Fatalf("Size %d, InFlight %d; want 1, 0", f.c.Size(), f.c.InFlight())
	}
}

// Concurrent misses of one (user, key) share one flight; other keys and other users
// have flights of their own.
func TestShared_concurrentMissesShareOneFlight(t *testing.T) {
	f := newFixture()
	rs := newRuns("k")
	const n = 64
	results := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := f.c.Shared(context.Background(), "u", "k", rs.run)
			if err != nil {
				t.Error(err)
			}
			results <- r
		})
	}
	<-rs.started
	// Another key of the user, and another user, do not wait for the blocked flight.
	if r, err := f.c.Shared(t.Context(), "u", "other", rs.run); err != nil || r != "other@2" {
		t.Fatalf("another key: %q, %v; want other@2", r, err)
	}
	if r, err := f.c.Shared(t.Context(), "u2", "k2", rs.run); err != nil || r != "k2@3" {
		t.Fatalf("another user: %q, %v; want k2@3", r, err)
	}
	if got := f.c.InFlight(); got != 1 {
		t.Fatalf("InFlight = %d while one user's flight is blocked, want 1", got)
	}
	time.Sleep(10 * time.Millisecond) // let the callers pile up on the flight (not a timing assertion)
	close(rs.release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != "k@1" {
			t.Fatalf("a caller got %q, want the one flight's k@1", r)
		}
	}
	if got := rs.n.Load(); got != 3 {
		t.Fatalf("%d runs, want 3: one for the %d callers, one per other key or user", got, n)
	}
}

// A caller whose lock-free read missed just before a flight stored its result finds
// that result under the lock instead of starting another flight.
func TestShared_looksAgainUnderTheLock(t *testing.T) {
	f := newFixture()
	rs := newRuns()
	if _, err := f.c.Shared(t.Context(), "u", "k", rs.run); err != nil {
		t.Fatal(err)
	}
	r, err := f.c.Shared(t.Context(), "u", "k", rs.run) // as after a read that missed
	if err != nil || r != "k@1" || rs.n.Load() != 1 {
		t.Fatalf("Shared = %q, %v after %d runs; want the stored k@1 and no new run", r, err, rs.n.Load())
	}
	f.advance(ttl)
	if r, err := f.c.Shared(t.Context(), "u", "k", rs.run); err != nil || r != "k@2" {
		t.Fatalf("after expiry: %q, %v; want a new flight's k@2", r, err)
	}
}

// A burst of misses with nothing holding the flight open: callers that miss as the
// flight ends still do not start another.
func TestShared_burstCostsOneRun(t *testing.T) {
	for round := range 200 {
		f := newFixture()
		rs := newRuns()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				<-start
				if _, ok := f.get("u", "k"); ok {
					return
				}
				if r, err := f.c.Shared(context.Background(), "u", "k", rs.run); err != nil || r != "k@1" {
					t.Errorf("round %d: %q, %v", round, r, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := rs.n.Load(); n != 1 {
			t.Fatalf("round %d: %d runs, want 1", round, n)
		}
	}
}

// A failed flight stores nothing and leaves no flight: users whose flights fail cost
// nothing once the flights end.
func TestShared_failedFlightLeavesNothing(t *testing.T) {
	f := newFixture()
	rs := newRuns()
	rs.fail = errors.New("store down")
	for i := range 10_000 {
		if _, err := f.c.Shared(t.Context(), fmt.Sprint("user-", i), "k", rs.run); !errors.Is(err, rs.fail) {
			t.Fatalf("err = %v, want the flight's error", err)
		}
	}
	if f.c.Size() != 0 || f.c.InFlight() != 0 || f.stores.Load() != 0 {
		t.Fatalf("Size %d, InFlight %d, stores %d after failed flights; want 0, 0, 0", f.c.Size(), f.c.InFlight(), f.stores.Load())
	}
	f.c.mu.Lock()
	flights := len(f.c.flights)
	f.c.mu.Unlock()
	if flights != 0 {
		t.Fatalf("%d users in the flight table", flights)
	}
	rs.fail = nil
	if r, err := f.c.Shared(t.Context(), "user-1", "k", rs.run); err != nil || r != "k@10001" {
		t.Fatalf("after the failures: %q, %v; want a new flight", r, err)
	}
}

// Invalidate during a flight: the flight leaves the table at once, a caller arriving
// later starts its own, and the stale flight does not store its result over the new one.
func TestInvalidate_duringFlight(t *testing.T) {
	for _, all := range []bool{false, true} {
		t.Run(fmt.Sprint("all=", all), func(t *testing.T) {
			f := newFixture()
			rs := newRuns("k")
			first := make(chan string, 1)
			go func() {
				r, _ := f.c.Shared(context.Background(), "u", "k", rs.run)
				first <- r
			}()
			<-rs.started
			if all {
				f.c.InvalidateAll()
			} else {
				f.c.Invalidate("u")
			}
			if got := f.c.InFlight(); got != 0 {
				t.Fatalf("InFlight = %d after invalidation, want 0", got)
			}

			rs.block["k"] = false // the next flight runs straight through (only this goroutine reads it now)
			r, err := f.c.Shared(t.Context(), "u", "k", rs.run)
			if err != nil || r != "k@2" {
				t.Fatalf("a caller after invalidation: %q, %v; want its own flight's k@2", r, err)
			}
			close(rs.release)
			if r := <-first; r != "k@1" {
				t.Fatalf("the stale flight's caller got %q, want k@1", r)
			}
			if got, ok := f.get("u", "k"); !ok || got != "k@2" {
				t.Fatalf("get = %q, %v; the stale flight stored over the new one", got, ok)
			}
		})
	}
}

func TestInvalidate_dropsValues(t *testing.T) {
	f := newFixture()
	rs := newRuns()
	for _, u := range []string{"u1", "u2", "u3"} {
		if _, err := f.c.Shared(t.Context(), u, "k", rs.run); err != nil {
			t.Fatal(err)
		}
	}
	f.c.Invalidate("u1")
	f.c.Invalidate("never-seen")
	if _, ok := f.get("u1", "k"); ok || f.c.Size() != 2 {
		t.Fatalf("after Invalidate(u1): u1 found %v, Size %d; want false, 2", ok, f.c.Size())
	}
	f.c.InvalidateAll()
	if f.c.Size() != 0 {
		t.Fatalf("Size = %d after InvalidateAll", f.c.Size())
	}
}

// A caller whose ctx ends returns at once; the flight, detached from its cancellation
// but with its values, runs on and stores its result for the others.
func TestShared_callerDone(t *testing.T) {
	f := newFixture()
	type ctxKey struct{}
	var sawValue, sawCancel atomic.Bool
	block := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	run := func(ctx context.Context, _, key string) (string, error) {
		once.Do(func() { close(started) })
		<-block
		sawValue.Store(ctx.Value(ctxKey{}) == "v")
		sawCancel.Store(ctx.Err() != nil)
		return key + "-result", nil
	}
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, "v"))
	done := make(chan error, 1)
	go func() {
		_, err := f.c.Shared(ctx, "u", "k", run)
		done <- err
	}()
	<-started
	cancel()
	if err := <-done; err != ErrCallerDone {
		t.Fatalf("err = %v, want ErrCallerDone while the flight is still blocked", err)
	}
	other := make(chan string, 1)
	go func() {
		r, _ := f.c.Shared(t.Context(), "u", "k", run)
		other <- r
	}()
	close(block)
	if r := <-other; r != "k-result" {
		t.Fatalf("the other caller got %q", r)
	}
	if !sawValue.Load() || sawCancel.Load() {
		t.Fatalf("the flight's ctx: first caller's value %v, cancelled %v; want true, false", sawValue.Load(), sawCancel.Load())
	}
	if got, ok := f.get("u", "k"); !ok || got != "k-result" {
		t.Fatalf("get = %q, %v: the flight's result was not stored", got, ok)
	}
}

// Config.Timeout bounds a flight that nobody waits for, with Config.TimeoutCause.
func TestShared_timeout(t *testing.T) {
	f := newFixture()
	f.c.timeout = 20 * time.Millisecond
	_, err := f.c.Shared(t.Context(), "u", "k", func(ctx context.Context, _, _ string) (string, error) {
		<-ctx.Done()
		return "", context.Cause(ctx)
	})
	if !errors.Is(err, errTimeout) {
		t.Fatalf("err = %v, want the timeout cause", err)
	}
	if f.c.InFlight() != 0 || f.c.Size() != 0 {
		t.Fatalf("InFlight %d, Size %d after a timed-out flight", f.c.InFlight(), f.c.Size())
	}
}

// Every gate must be open; a flight ending while one is closed stores nothing.
func TestGates(t *testing.T) {
	if !newFixture().c.Open() {
		t.Fatal("no gate: closed")
	}
	var a, b atomic.Bool
	a.Store(true)
	b.Store(true)
	f := newFixture(a.Load, b.Load)
	for _, tc := range []struct{ a, b, open bool }{{true, true, true}, {false, true, false}, {true, false, false}, {false, false, false}} {
		a.Store(tc.a)
		b.Store(tc.b)
		if got := f.c.Open(); got != tc.open {
			t.Fatalf("gates %v, %v: Open = %v", tc.a, tc.b, got)
		}
	}
	one := newFixture(a.Load)
	a.Store(false)
	if one.c.Open() {
		t.Fatal("one closed gate: open")
	}

	rs := newRuns("k")
	a.Store(true)
	b.Store(true)
	res := make(chan string, 1)
	go func() {
		r, _ := f.c.Shared(context.Background(), "u", "k", rs.run)
		res <- r
	}()
	<-rs.started
	b.Store(false)
	close(rs.release)
	if r := <-res; r != "k@1" {
		t.Fatalf("got %q", r)
	}
	if f.c.Size() != 0 || f.stores.Load() != 0 {
		t.Fatal("a flight that ended while a gate was closed stored its result")
	}
}

// Store gets the user's old value, the time and the expiry; what it keeps expires as
// it did.
func TestStore_keepsTheOtherKeys(t *testing.T) {
	f := newFixture()
	rs := newRuns()
	if _, err := f.c.Shared(t.Context(), "u", "a", rs.run); err != nil {
		t.Fatal(err)
	}
	f.advance(10 * time.Second)
	if _, err := f.c.Shared(t.Context(), "u", "b", rs.run); err != nil {
		t.Fatal(err)
	}
	v, _ := f.users.Load("u")
	m := v.(*value).m
	if len(m) != 2 || m["a"].expires != int64(ttl) || m["b"].expires != int64(10*time.Second+ttl) {
		t.Fatalf("value = %+v; want a expiring at ttl, b at 10s+ttl", m)
	}
	f.advance(ttl - 10*time.Second)
	if _, ok := f.get("u", "a"); ok {
		t.Fatal("a served at its expiry")
	}
	if _, ok := f.get("u", "b"); !ok {
		t.Fatal("b not served before its expiry")
	}
}

// The sweep removes the users whose values have all expired, and only them.
func TestSweep_removesExpiredUsers(t *testing.T) {
	f := newFixture()
	rs := newRuns()
	mustShare := func(user, key string) {
		t.Helper()
		if _, err := f.c.Shared(t.Context(), user, key, rs.run); err != nil {
			t.Fatal(err)
		}
	}
	mustShare("old", "k")
	mustShare("mixed", "k")
	f.advance(30 * time.Second)
	mustShare("mixed", "k2")
	mustShare("new", "k")
	f.advance(30 * time.Second)
	f.c.Sweep()
	for user, want := range map[string]bool{"old": false, "mixed": true, "new": true} {
		if _, ok := f.users.Load(user); ok != want {
			t.Errorf("%s kept = %v, want %v", user, ok, want)
		}
	}
	f.advance(30 * time.Second)
	f.c.Sweep()
	if f.c.Size() != 0 {
		t.Fatalf("Size = %d once every value expired", f.c.Size())
	}
}

// A user whose value changes while the sweep looks at the old one is kept: the sweep
// deletes only the value it judged.
func TestSweep_keepsAValueStoredMeanwhile(t *testing.T) {
	f := newFixture()
	rs := newRuns()
	if _, err := f.c.Shared(t.Context(), "u", "k", rs.run); err != nil {
		t.Fatal(err)
	}
	f.advance(ttl) // the value has expired
	hook := func(v *value) {
		if _, ok := v.m["k"]; ok { // the old value: a flight stores a new one now
			f.onLive.Store(nil)
			if _, err := f.c.Shared(context.Background(), "u", "fresh", rs.run); err != nil {
				t.Error(err)
			}
		}
	}
	f.onLive.Store(&hook)
	f.c.Sweep()
	if got, ok := f.get("u", "fresh"); !ok || got != "fresh@2" {
		t.Fatalf("get = %q, %v: the sweep deleted a value stored after it judged the old one", got, ok)
	}
}

// A miss starts a sweep at most once per max(ttl, MinSweepEvery), in the background.
func TestMaybeSweep_oncePerInterval(t *testing.T) {
	f := newFixture()
	rs := newRuns()
	if f.c.sweepEvery != int64(ttl) {
		t.Fatalf("sweepEvery = %v, want the ttl", time.Duration(f.c.sweepEvery))
	}
	var short Cache[*value, string]
	short.Init(Config[*value, string]{TTL: time.Millisecond, Timeout: time.Hour, Users: new(sync.Map)})
	if short.sweepEvery != int64(MinSweepEvery) {
		t.Fatalf("sweepEvery = %v for a 1 ms ttl, want MinSweepEvery", time.Duration(short.sweepEvery))
	}

	for i := range 50 {
		if _, err := f.c.Shared(t.Context(), fmt.Sprint("user-", i), "k", rs.run); err != nil {
			t.Fatal(err)
		}
	}
	if last := f.c.lastSweep.Load(); last != 0 {
		t.Fatalf("a sweep started at %v, before the interval", time.Duration(last))
	}
	f.advance(ttl)
	if _, err := f.c.Shared(t.Context(), "one-more", "k", rs.run); err != nil {
		t.Fatal(err)
	}
	if last := f.c.lastSweep.Load(); last != int64(ttl) {
		t.Fatalf("lastSweep = %v after a miss at the interval, want %v", time.Duration(last), ttl)
	}
	for deadline := time.Now().Add(30 * time.Second); f.c.Size() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Size = %d; the background sweep never left only the newest user", f.c.Size())
		}
	}
	f.advance(ttl / 2)
	if _, err := f.c.Shared(t.Context(), "another", "k", rs.run); err != nil {
		t.Fatal(err)
	}
	if last := f.c.lastSweep.Load(); last != int64(ttl) {
		t.Fatalf("lastSweep = %v: a sweep started within the interval", time.Duration(last))
	}
}

// A read, as a hot path makes it through Map and TestClock, allocates nothing.
func TestRead_allocatesNothing(t *testing.T) {
	f := newFixture()
	if _, err := f.c.Shared(t.Context(), "u", "k", newRuns().run); err != nil {
		t.Fatal(err)
	}
	user := string([]byte("u")) // not a constant
	if allocs := testing.AllocsPerRun(100, func() {
		if _, ok := f.get(user, "k"); !ok {
			t.Fatal("miss")
		}
	}); allocs != 0 {
		t.Fatalf("a read allocates %v times", allocs)
	}
}

// Flights, invalidations and sweeps racing (for -race): after the last invalidation,
// every user's next flight is served.
func TestRace(t *testing.T) {
	f := newFixture()
	var version atomic.Int64
	run := func(_ context.Context, _, key string) (string, error) {
		return fmt.Sprint(key, "@", version.Load()), nil
	}
	users := []string{"u1", "u2", "u3", "u4"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 300 {
				u := users[(i+j)%len(users)]
				switch {
				case j%17 == 0:
					version.Add(1)
					f.c.Invalidate(u)
				case j%101 == 0:
					f.c.InvalidateAll()
				case j%53 == 0:
					f.advance(ttl / 4)
					f.c.Sweep()
				default:
					key := fmt.Sprint("k", j%3)
					if _, ok := f.get(u, key); !ok {
						if _, err := f.c.Shared(context.Background(), u, key, run); err != nil {
							t.Error(err)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	version.Store(-1)
	for _, u := range users {
		f.c.Invalidate(u)
		if r, err := f.c.Shared(t.Context(), u, "k0", run); err != nil || r != "k0@-1" {
			t.Fatalf("%s: %q, %v after the last invalidation", u, r, err)
		}
	}
	if f.c.InFlight() != 0 {
		t.Fatalf("InFlight = %d once every flight ended", f.c.InFlight())
	}
}
