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

// cache holds successful resolutions per (user, model hint).
//
// A hit is lock-free: one sync.Map lookup by user, a scan of that user's few entries
// and one monotonic clock read. Writes and Invalidate take mu and replace a user's
// entry list (copy on write).
//
// Each user with entries or a resolution in flight has a generation drawn from one
// counter that never repeats. Invalidate forgets the user, so the next miss hands out a
// new generation; a resolution stores its result only if the user's generation is
// still the one it started with. The generation is part of the singleflight key too,
// so a caller that arrives after Invalidate never joins a resolution that started
// before it.
type cache struct {
	ttl     time.Duration
	elapsed func() time.Duration // monotonic time since the cache was made
	users   sync.Map             // user id -> *userEntries
	group   singleflight.Group

	mu        sync.Mutex        // guards gens, seq, lastSweep and writes to users
	gens      map[string]uint64 // generation of users with entries or a miss in progress
	seq       uint64            // last generation handed out
	lastSweep time.Duration
}

// userEntries is one user's cached results; never modified once published.
type userEntries struct{ list []*cacheEntry }

type cacheEntry struct {
	model   string
	p       Provider
	path    Path
	expires time.Duration // on the elapsed clock
}

type flightResult struct {
	p    Provider
	path Path
}

func newCache(ttl time.Duration, now func() time.Time) *cache {
	c := &cache{ttl: ttl, gens: map[string]uint64{}}
	if now == nil {
		base := time.Now()
		c.elapsed = func() time.Duration { return time.Since(base) } // reads only the monotonic clock
	} else {
		base := now()
		c.elapsed = func() time.Duration { return now().Sub(base) }
	}
	return c
}

// get returns a live entry.
func (c *cache) get(user, model string) (*cacheEntry, bool) {
	v, ok := c.users.Load(user)
	if !ok {
		return nil, false
	}
	for _, e := range v.(*userEntries).list {
		if e.model == model {
			return e, c.elapsed() < e.expires
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
	now := c.elapsed()
	list := []*cacheEntry{{model: model, p: p, path: path, expires: now + c.ttl}}
	if v, ok := c.users.Load(user); ok {
		for _, e := range v.(*userEntries).list {
			if e.model != model && e.expires > now && len(list) < maxModelsPerUser {
				list = append(list, e)
			}
		}
	}
	c.users.Store(user, &userEntries{list: list})
	if now-c.lastSweep >= c.ttl {
		c.sweep(now)
	}
}

// invalidate drops the user's entries and forgets the user's generation.
func (c *cache) invalidate(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users.Delete(user)
	delete(c.gens, user)
}

// sweep drops users whose entries have all expired, and generations of users without
// entries, so memory follows the users seen within about one ttl. A generation dropped
// while its resolution is in flight only costs that result's caching. Called with mu
// held.
func (c *cache) sweep(now time.Duration) {
	c.lastSweep = now
	live := map[string]bool{}
	c.users.Range(func(k, v any) bool {
		user := k.(string)
		for _, e := range v.(*userEntries).list {
			if e.expires > now {
				live[user] = true
				return true
			}
		}
		c.users.Delete(user)
		return true
	})
	for user := range c.gens {
		if !live[user] {
			delete(c.gens, user)
		}
	}
}
