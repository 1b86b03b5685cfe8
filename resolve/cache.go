package resolve

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/internal/monoclock"
	"github.com/byok-go/byok/providers"
)

// maxModelsPerUser bounds the entries one user can hold (one per model hint).
const maxModelsPerUser = 16

// minSweepEvery is the shortest interval between two sweeps of expired entries.
const minSweepEvery = time.Second

// cache holds successful resolutions per (user, model hint).
//
// A hit is lock-free and allocation-free: one sync.Map lookup by user, a walk over that
// user's few entries, and a comparison of the entry's expiry with the coarse clock
// (monoclock.Coarse). Nothing runs per entry in the background: an expired entry is
// simply not served, and a sweep, started at most once per max(ttl, minSweepEvery) by
// a miss, walks the map without holding a lock and removes users whose entries have all
// expired.
//
// Misses of one (user, model hint) share one flight. Flights are the only per-user
// state besides cached results, and a flight leaves the table when it ends, whatever
// its outcome, so a user whose resolution fails leaves nothing behind. Invalidate marks
// the user's flights stale and removes them from the table: a caller arriving later
// starts a new flight instead of joining a stale one, and a stale flight does not store
// its result. Writes, flight bookkeeping and invalidation take mu.
type cache struct {
	ttl       int64        // entry lifetime, in the clocks' nanoseconds
	testClock func() int64 // tests: replaces both clocks
	gate      func() bool  // the cache is read and written only while gate() is true; nil: always
	users     sync.Map     // user id -> *cacheEntry, the newest of the user's entries

	mu      sync.Mutex           // guards flights and the flights' stale flags; serializes writes to users
	flights map[string][]*flight // user id -> the user's flights in progress

	sweepEvery int64
	lastSweep  atomic.Int64
	sweeping   atomic.Bool
}

// cacheEntry is one cached result, in a compact form: a cached user costs memory for
// as long as the entry lives, so the common case (one entry, the provider's default base
// URL, no model hint) fits in 64 bytes. The parts many users share (provider, default
// base URL, source, path) are a pointer to a shared template. Entries are never modified
// once published; a user's entries form a list from the newest (through x).
type cacheEntry struct {
	key     providers.Secret // Provider.APIKey
	model   string           // the model hint this entry answers
	expires int64            // clock value from which the entry is no longer served
	tmpl    *entryTemplate
	origin  *origin     // Provider.origin: the user's own, so it lives in the user's entry
	x       *entryExtra // nil in the common case
}

// entryTemplate is the shared part of entries: a Provider without its key, and a path.
type entryTemplate struct {
	p       Provider
	path    Path
	pathIdx int // index of path in knownPaths, for metrics
}

// entryExtra holds what the compact fields do not.
type entryExtra struct {
	next    *cacheEntry     // the user's next (older) entry
	baseURL string          // Provider.BaseURL when it is not the template's
	model   string          // Provider.Model
	gateway *gateway.Params // Provider's gateway options and per-request BYOK
	full    *fullResult     // the whole result, when the compact form cannot hold it
}

type fullResult struct {
	p    Provider
	path Path
}

// entryTemplates holds one template per provider, base URL source and known path, each
// with the provider's default base URL.
var entryTemplates = func() map[templateKey]*entryTemplate {
	m := map[templateKey]*entryTemplate{}
	for _, id := range providers.All() {
		spec, _ := id.Spec()
		for _, source := range []string{SourceDefault, SourceUser, SourceTeam} {
			for i, path := range knownPaths {
				m[templateKey{id, source, path}] = &entryTemplate{
					p:       Provider{ID: id, BaseURL: spec.BaseURL, BaseURLSource: source},
					path:    path,
					pathIdx: i,
				}
			}
		}
	}
	return m
}()

type templateKey struct {
	id     providers.ID
	source string
	path   Path
}

// newEntry returns the entry for a result. It checks that the compact form gives back
// exactly p and path, and keeps the whole result otherwise, so a Provider field the
// compact form does not know about is never lost.
func newEntry(model string, p Provider, path Path, expires int64, next *cacheEntry) *cacheEntry {
	e := &cacheEntry{key: p.APIKey, model: model, expires: expires, origin: p.origin}
	e.tmpl = entryTemplates[templateKey{p.ID, p.BaseURLSource, path}]
	if e.tmpl != nil && (p.BaseURL != e.tmpl.p.BaseURL || p.Model != "" || p.gateway != nil) {
		e.x = &entryExtra{baseURL: p.BaseURL, model: p.Model, gateway: p.gateway}
	}
	if e.tmpl == nil {
		e.x = &entryExtra{full: &fullResult{p: p, path: path}}
	} else if q, qpath := e.result(); qpath != path || !reflect.DeepEqual(q, p) { // Provider may gain fields of any kind
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

// result returns the cached Provider and Path.
func (e *cacheEntry) result() (p Provider, path Path) {
	e.fill(&p, &path)
	return p, path
}

// fill sets *p and *path to the cached result.
func (e *cacheEntry) fill(p *Provider, path *Path) {
	x := e.x
	if x != nil && x.full != nil {
		*p, *path = x.full.p, x.full.path
		return
	}
	*p = e.tmpl.p
	p.APIKey = e.key
	p.origin = e.origin
	*path = e.tmpl.path
	if x != nil {
		if x.baseURL != "" {
			p.BaseURL = x.baseURL
		}
		p.Model = x.model
		p.gateway = x.gateway
	}
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
		gate:    gate,
		flights: map[string][]*flight{},
	}
	if testClock != nil {
		c.testClock = func() int64 { return int64(testClock()) }
	}
	c.sweepEvery = max(int64(ttl), int64(minSweepEvery))
	c.lastSweep.Store(c.stamp())
	return c
}

// stamp reads the clock writes and sweeps use: the precise clock.
func (c *cache) stamp() int64 {
	if c.testClock != nil {
		return c.testClock()
	}
	return monoclock.Now()
}

// open reports whether the cache may be read and written now.
func (c *cache) open() bool { return c.gate == nil || c.gate() }

// get returns the user's live entry for model, or nil.
func (c *cache) get(user, model string) *cacheEntry {
	v, ok := c.users.Load(user)
	if !ok {
		return nil
	}
	var now int64 // the coarse clock, inlined
	if c.testClock == nil {
		now = monoclock.Coarse()
	} else {
		now = c.testClock()
	}
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
