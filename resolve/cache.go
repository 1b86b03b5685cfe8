package resolve

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/byok-go/byok/providers"
)

// maxModelsPerUser bounds the entries one user can hold (one per model hint).
const maxModelsPerUser = 16

// minSweepEvery is the shortest interval between two sweeps of expired entries.
const minSweepEvery = time.Second

// cache holds successful resolutions per (user, model hint).
//
// A hit is lock-free and allocation-free: one sync.Map lookup by user, a walk over that
// user's few entries, and a comparison of the entry's expiry with the coarse clock.
// Nothing runs per entry in the background: an expired entry is simply not served, and
// a sweep, started at most once per max(ttl, minSweepEvery) by a miss, walks the map
// without holding a lock and removes users whose entries have all expired.
//
// Misses of one (user, model hint) share one flight. Flights are the only per-user
// state besides cached results, and a flight leaves the table when it ends, whatever
// its outcome, so a user whose resolution fails leaves nothing behind. Invalidate marks
// the user's flights stale and removes them from the table: a caller arriving later
// starts a new flight instead of joining a stale one, and a stale flight does not store
// its result. Writes, flight bookkeeping and invalidation take mu.
type cache struct {
	ttl   int64        // entry lifetime, in the clocks' nanoseconds
	now   func() int64 // read on hits: the coarse clock
	stamp func() int64 // read when storing and sweeping: the precise clock
	gate  func() bool  // the cache is read and written only while gate() is true; nil: always
	users sync.Map     // user id -> *cacheEntry, the newest of the user's entries

	mu      sync.Mutex           // guards flights and the flights' stale flags; serializes writes to users
	flights map[string][]*flight // user id -> the user's flights in progress

	sweepEvery int64
	lastSweep  atomic.Int64
	sweeping   atomic.Bool
}

// cacheEntry is one cached result, in a compact form: a cached user costs memory for
// as long as the entry lives, so the common case (one entry, the provider's default base
// URL, no model hint) fits in 64 bytes. Entries are never modified once published; a
// user's entries form a list from the newest (through x).
type cacheEntry struct {
	key     providers.Secret // Provider.APIKey
	model   string           // the model hint this entry answers
	expires int64            // clock value from which the entry is no longer served
	x       *entryExtra      // nil in the common case
	id      uint8            // Provider.ID, an index into entryIDs
	source  uint8            // Provider.BaseURLSource, an index into entrySources
	path    uint8            // an index into knownPaths
}

// entryExtra holds what the compact fields do not.
type entryExtra struct {
	next    *cacheEntry // the user's next (older) entry
	baseURL string      // Provider.BaseURL when it is not the provider's default
	model   string      // Provider.Model
	full    *fullResult // the whole result, when the compact form cannot hold it
}

type fullResult struct {
	p    Provider
	path Path
}

// The values the compact fields index.
var (
	entryIDs      = providers.All()
	entryBaseURLs = func() []string {
		urls := make([]string, len(entryIDs))
		for i, id := range entryIDs {
			spec, _ := id.Spec()
			urls[i] = spec.BaseURL
		}
		return urls
	}()
	entrySources = [...]string{SourceDefault, SourceUser, SourceTeam}
)

// newEntry returns the entry for a result. It checks that the compact form gives back
// exactly p and path, and keeps the whole result otherwise, so a Provider field the
// compact form does not know about is never lost.
func newEntry(model string, p Provider, path Path, expires int64, next *cacheEntry) *cacheEntry {
	e := &cacheEntry{key: p.APIKey, model: model, expires: expires}
	id, okID := index(entryIDs, p.ID)
	source, okSource := index(entrySources[:], p.BaseURLSource)
	pathIdx, okPath := index(knownPaths[:], path)
	e.id, e.source, e.path = id, source, pathIdx
	if okID && (p.BaseURL != entryBaseURLs[id] || p.Model != "") {
		e.x = &entryExtra{baseURL: p.BaseURL, model: p.Model}
	}
	if q, qpath := e.result(); !okID || !okSource || !okPath || q != p || qpath != path {
		e.x = &entryExtra{full: &fullResult{p: p, path: path}}
	}
	if next != nil {
		if e.x == nil {
			e.x = &entryExtra{}
		}
		e.x.next = next
	}
	return e
}

// index returns the index of v in values.
func index[T comparable](values []T, v T) (uint8, bool) {
	for i, x := range values {
		if x == v {
			return uint8(i), true
		}
	}
	return 0, false
}

// result returns the cached Provider and Path.
func (e *cacheEntry) result() (Provider, Path) {
	x := e.x
	if x != nil && x.full != nil {
		return x.full.p, x.full.path
	}
	p := Provider{ID: entryIDs[e.id], APIKey: e.key, BaseURL: entryBaseURLs[e.id], BaseURLSource: entrySources[e.source]}
	if x != nil {
		if x.baseURL != "" {
			p.BaseURL = x.baseURL
		}
		p.Model = x.model
	}
	return p, knownPaths[e.path]
}

// older returns the user's next entry, or nil.
func (e *cacheEntry) older() *cacheEntry {
	if e.x == nil {
		return nil
	}
	return e.x.next
}

// flight is one shared resolution in progress. Its result fields are written before
// done is closed.
type flight struct {
	model string
	stale bool // guarded by cache.mu: invalidated since it started
	done  chan struct{}
	p     Provider
	path  Path
	err   error
}

// newCache returns a cache of entries living ttl. testClock, when set, replaces both
// clocks (tests only).
func newCache(ttl time.Duration, gate func() bool, testClock func() time.Duration) *cache {
	c := &cache{
		ttl:     int64(ttl),
		now:     coarse.Now,
		stamp:   preciseNow,
		gate:    gate,
		flights: map[string][]*flight{},
	}
	if testClock != nil {
		c.now = func() int64 { return int64(testClock()) }
		c.stamp = c.now
	}
	c.sweepEvery = max(int64(ttl), int64(minSweepEvery))
	c.lastSweep.Store(c.stamp())
	return c
}

// open reports whether the cache may be read and written now.
func (c *cache) open() bool { return c.gate == nil || c.gate() }

// get returns the user's live entry for model, or nil.
func (c *cache) get(user, model string) *cacheEntry {
	v, ok := c.users.Load(user)
	if !ok {
		return nil
	}
	now := c.now()
	for e := v.(*cacheEntry); e != nil; e = e.older() {
		if e.model == model {
			if now < e.expires {
				return e
			}
			return nil
		}
	}
	return nil
}

// resolveShared answers a miss: all concurrent misses of (user, model) share one run of
// resolve, and a success is cached. resolve must bound its own work: it runs on after
// every caller has gone. Each caller waits on its own ctx.
func (c *cache) resolveShared(ctx context.Context, user, model string,
	resolve func(context.Context, string, string) (Provider, Path, error)) (Provider, Path, error) {
	c.mu.Lock()
	// A flight that ended between this caller's miss and now has stored its result (or
	// failed, or was invalidated): look again, under the lock that the flight's end takes.
	if e := c.get(user, model); e != nil {
		c.mu.Unlock()
		p, path := e.result()
		return p, path, nil
	}
	var f *flight
	for _, x := range c.flights[user] {
		if x.model == model {
			f = x
			break
		}
	}
	if f == nil {
		f = &flight{model: model, done: make(chan struct{})}
		c.flights[user] = append(c.flights[user], f)
		go c.fly(ctx, user, f, resolve)
	}
	c.mu.Unlock()
	c.maybeSweep()

	select {
	case <-f.done:
		return f.p, f.path, f.err
	case <-ctx.Done():
		return Provider{}, "", &Error{Step: StepInput, Kind: ctx.Err()}
	}
}

// fly runs one flight, stores its success unless it went stale, and removes it from the
// table.
func (c *cache) fly(ctx context.Context, user string, f *flight,
	resolve func(context.Context, string, string) (Provider, Path, error)) {
	p, path, err := resolve(ctx, user, f.model)
	c.mu.Lock()
	if !f.stale {
		c.removeFlightLocked(user, f)
		if err == nil && c.open() {
			c.storeLocked(user, f.model, p, path)
		}
	}
	f.p, f.path, f.err = p, path, err
	c.mu.Unlock()
	close(f.done)
}

// removeFlightLocked takes f out of the user's flights. Called with mu held.
func (c *cache) removeFlightLocked(user string, f *flight) {
	fs := c.flights[user]
	if len(fs) == 1 {
		delete(c.flights, user)
		return
	}
	kept := make([]*flight, 0, len(fs)-1)
	for _, x := range fs {
		if x != f {
			kept = append(kept, x)
		}
	}
	c.flights[user] = kept
}

// storeLocked publishes a new entry list for the user: the new entry first, then the
// user's other live entries, at most maxModelsPerUser in all. Called with mu held.
func (c *cache) storeLocked(user, model string, p Provider, path Path) {
	now := c.stamp()
	var kept []*cacheEntry
	if v, ok := c.users.Load(user); ok {
		for old := v.(*cacheEntry); old != nil && len(kept) < maxModelsPerUser-1; old = old.older() {
			if old.model != model && now < old.expires {
				kept = append(kept, old)
			}
		}
	}
	var next *cacheEntry
	for i := len(kept) - 1; i >= 0; i-- { // rebuilt from the oldest: entries are immutable
		p, path := kept[i].result()
		next = newEntry(kept[i].model, p, path, kept[i].expires, next)
	}
	c.users.Store(user, newEntry(model, p, path, now+c.ttl, next))
}

// invalidate drops the user's entries and makes the user's flights stale.
func (c *cache) invalidate(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.flights[user] {
		f.stale = true
	}
	delete(c.flights, user)
	c.users.Delete(user)
}

// invalidateAll drops every entry and makes every flight stale.
func (c *cache) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, fs := range c.flights {
		for _, f := range fs {
			f.stale = true
		}
	}
	clear(c.flights)
	c.users.Clear()
}

// maybeSweep starts a sweep when the last one is at least sweepEvery ago and none is
// running.
func (c *cache) maybeSweep() {
	now := c.stamp()
	if now-c.lastSweep.Load() < c.sweepEvery || !c.sweeping.CompareAndSwap(false, true) {
		return
	}
	c.lastSweep.Store(now)
	go func() {
		defer c.sweeping.Store(false)
		c.sweep()
	}()
}

// sweep removes every user whose entries have all expired. It holds no lock: a user
// whose entries changed meanwhile is left alone (CompareAndDelete).
func (c *cache) sweep() {
	now := c.stamp()
	c.users.Range(func(user, v any) bool {
		for e := v.(*cacheEntry); e != nil; e = e.older() {
			if now < e.expires {
				return true
			}
		}
		c.users.CompareAndDelete(user, v)
		return true
	})
}

// size returns the number of users with entries, live or expired (tests).
func (c *cache) size() int {
	n := 0
	c.users.Range(func(any, any) bool { n++; return true })
	return n
}

// inFlight returns the number of users with a flight in progress (tests).
func (c *cache) inFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.flights)
}
