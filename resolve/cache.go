package resolve

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// maxModelsPerUser bounds the entries one user can hold (one per model hint).
const maxModelsPerUser = 16

// afterFunc schedules f after d and returns a function that cancels it; time.AfterFunc
// in production, a fake in tests.
type afterFunc func(d time.Duration, f func()) (stop func() bool)

func realAfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// cache holds successful resolutions per (user, model hint).
//
// A hit is lock-free and reads no clock: one sync.Map lookup by user and a scan of that
// user's few entries. Each entry is removed by a timer ttl after it was stored, so
// nothing on the hit path checks expiry. Writes, expiry and Invalidate take mu and
// replace a user's entry list (copy on write).
//
// Each user with entries or a resolution in flight has a generation drawn from one
// counter that never repeats. Invalidate forgets the user, so the next miss hands out a
// new generation; a resolution stores its result only if the user's generation is
// still the one it started with. The generation is part of the singleflight key too,
// so a caller that arrives after Invalidate never joins a resolution that started
// before it.
type cache struct {
	ttl   time.Duration
	after afterFunc
	users sync.Map // user id -> *userEntries
	group singleflight.Group

	mu   sync.Mutex        // guards gens and seq, and serializes writes to users
	gens map[string]uint64 // generation of users with entries or a miss in progress
	seq  uint64            // last generation handed out
}

// userEntries is one user's cached results; never modified once published.
type userEntries struct{ list []*cacheEntry }

type cacheEntry struct {
	model string
	p     Provider
	path  Path
	stop  func() bool // cancels the expiry timer
}

type flightResult struct {
	p    Provider
	path Path
}

func newCache(ttl time.Duration, after afterFunc) *cache {
	if after == nil {
		after = realAfterFunc
	}
	return &cache{ttl: ttl, after: after, gens: map[string]uint64{}}
}

// get returns the user's entry for model, if cached.
func (c *cache) get(user, model string) (*cacheEntry, bool) {
	v, ok := c.users.Load(user)
	if !ok {
		return nil, false
	}
	for _, e := range v.(*userEntries).list {
		if e.model == model {
			return e, true
		}
	}
	return nil, false
}

// resolveShared runs resolve once for all concurrent misses of (user, model) and
// caches a success. Each caller waits on its own ctx; the shared work runs without the
// callers' cancellation, so one caller giving up does not fail the others.
func (c *cache) resolveShared(ctx context.Context, user, model string,
	resolve func(context.Context, string, string) (Provider, Path, error)) (Provider, Path, error) {
	gen := c.begin(user)
	key := strconv.FormatUint(gen, 10) + "\x00" + model + "\x00" + user
	ch := c.group.DoChan(key, func() (any, error) {
		p, path, err := resolve(context.WithoutCancel(ctx), user, model)
		if err != nil {
			return nil, err
		}
		c.store(user, model, gen, p, path)
		return flightResult{p, path}, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return Provider{}, "", res.Err
		}
		fr := res.Val.(flightResult)
		return fr.p, fr.path, nil
	case <-ctx.Done():
		return Provider{}, "", &Error{Step: StepInput, Kind: ctx.Err()}
	}
}

// begin returns the user's current generation, handing out a new one if needed.
func (c *cache) begin(user string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	gen, ok := c.gens[user]
	if !ok {
		c.seq++
		gen = c.seq
		c.gens[user] = gen
	}
	return gen
}

// store caches a result unless the user was invalidated since gen was handed out.
func (c *cache) store(user, model string, gen uint64, p Provider, path Path) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.gens[user]; !ok || g != gen {
		return
	}
	e := &cacheEntry{model: model, p: p, path: path}
	list := []*cacheEntry{e}
	for _, old := range c.entriesLocked(user) {
		if old.model == model || len(list) == maxModelsPerUser {
			old.stop()
			continue
		}
		list = append(list, old)
	}
	c.users.Store(user, &userEntries{list: list})
	e.stop = c.after(c.ttl, func() { c.expire(user, e) })
}

// expire removes one entry when its ttl is over.
func (c *cache) expire(user string, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.entriesLocked(user)
	list := make([]*cacheEntry, 0, len(old))
	for _, x := range old {
		if x != e {
			list = append(list, x)
		}
	}
	switch {
	case len(list) == len(old): // already replaced or invalidated
	case len(list) == 0:
		c.users.Delete(user)
		delete(c.gens, user) // a resolution in flight only loses its caching
	default:
		c.users.Store(user, &userEntries{list: list})
	}
}

// invalidate drops the user's entries and forgets the user's generation.
func (c *cache) invalidate(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entriesLocked(user) {
		e.stop()
	}
	c.users.Delete(user)
	delete(c.gens, user)
}

// entriesLocked returns the user's current entries. Called with mu held.
func (c *cache) entriesLocked(user string) []*cacheEntry {
	if v, ok := c.users.Load(user); ok {
		return v.(*userEntries).list
	}
	return nil
}
