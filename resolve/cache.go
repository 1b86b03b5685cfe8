package resolve

import (
	"context"
	"reflect"
	"sync"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/internal/monoclock"
	"github.com/byok-go/byok/internal/usercache"
	"github.com/byok-go/byok/providers"
)

// maxModelsPerUser bounds the entries one user can hold (one per model hint).
const maxModelsPerUser = 16

// cache holds successful resolutions per (user, model hint): a user's value in the
// usercache is the list of the user's entries, newest first, and a miss of one (user,
// model hint) is a shared flight there, which Invalidate makes stale.
//
// A hit is lock-free and allocation-free: one sync.Map lookup by user, a walk over that
// user's few entries, and a comparison of the entry's expiry with the coarse clock
// (monoclock.Coarse). usercache.Cache has the rest: the flights, invalidation, the gate,
// the clocks and the sweep of users whose entries have all expired.
type cache struct {
	usercache.Cache[*cacheEntry, fullResult]
	users sync.Map // user id -> *cacheEntry, the newest of the user's entries; written by usercache
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

// fullResult is one resolution's whole result: in an entry whose compact form cannot
// hold it, and as a shared resolution hands it over.
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

// newCache returns a cache of entries living cfg.cacheTTL, read and written only while
// every one of cfg.cacheGates is open, whose shared resolutions the store timeout bounds.
// cfg.clock, when set, replaces both clocks (tests only).
func newCache(cfg *config) *cache {
	c := &cache{}
	c.Init(usercache.Config[*cacheEntry, fullResult]{
		TTL:          cfg.cacheTTL,
		Users:        &c.users,
		Gates:        cfg.cacheGates,
		Clock:        cfg.clock,
		Timeout:      cfg.storeTimeout,
		TimeoutCause: errStoreTimeout,
		Find:         c.find,
		Store:        storeEntry,
		Live:         (*cacheEntry).live,
	})
	return c
}

// get returns the user's live entry for model, or nil.
func (c *cache) get(user, model string) *cacheEntry {
	v, ok := c.users.Load(user)
	if !ok {
		return nil
	}
	var now int64 // the coarse clock, inlined
	if clock := c.TestClock(); clock == nil {
		now = monoclock.Coarse()
	} else {
		now = clock()
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

// find returns the user's live result for model: usercache's look under its lock,
// after a miss.
func (c *cache) find(user, model string) (fullResult, bool) {
	e := c.get(user, model)
	if e == nil {
		return fullResult{}, false
	}
	p, path := e.result()
	return fullResult{p, path}, true
}

// storeEntry returns a new entry list for the user: the new entry first, then the
// user's other entries of old live at now, at most maxModelsPerUser in all. usercache
// calls it under its lock, so the stores of one user are serialized.
func storeEntry(old *cacheEntry, model string, r fullResult, now, expires int64) *cacheEntry {
	var kept []*cacheEntry
	for ; old != nil && len(kept) < maxModelsPerUser-1; old = old.older() {
		if old.model != model && now < old.expires {
			kept = append(kept, old)
		}
	}
	var next *cacheEntry
	for i := len(kept) - 1; i >= 0; i-- { // rebuilt from the oldest: entries are immutable
		p, path := kept[i].result()
		next = newEntry(kept[i].model, p, path, kept[i].expires, next)
	}
	return newEntry(model, r.p, r.path, expires, next)
}

// live reports whether any of the user's entries, from e, is live at now (the sweep).
func (e *cacheEntry) live(now int64) bool {
	for ; e != nil; e = e.older() {
		if now < e.expires {
			return true
		}
	}
	return false
}

// resolveShared answers a miss: all concurrent misses of (user, model) share one
// resolution, and a success is cached. Each caller waits on its own ctx.
func (r *Resolver) resolveShared(ctx context.Context, userID, hint string) (Provider, Path, error) {
	res, err := r.cache.Shared(ctx, userID, hint, r.resolveEntry)
	if err == usercache.ErrCallerDone {
		return Provider{}, "", &Error{Step: StepInput, Kind: ctx.Err()}
	}
	return res.p, res.path, err
}

// resolveEntry is a shared resolution, which usercache runs detached from its callers'
// cancellation and bounded by the store timeout.
func (r *Resolver) resolveEntry(ctx context.Context, userID, hint string) (fullResult, error) {
	p, path, err := r.resolveUncached(ctx, userID, hint)
	return fullResult{p, path}, err
}
