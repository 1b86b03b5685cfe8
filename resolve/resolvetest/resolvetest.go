// Package resolvetest provides in-memory, concurrency-safe fakes of the stores a
// [resolve.Resolver] reads, for this module's tests and for users' own, in the manner
// of net/http/httptest.
//
// [Keys] implements [resolve.KeyStore], [resolve.KeyHealth] and the writer methods of the
// Supabase store (PutKey, DeleteKey, PutGatewayKey, DeleteGatewayKey, PutGatewayBaseURL,
// ListKeys), with the same checks: providers.CheckKey for keys, the URL policy for base
// URLs, and, as there, storing a key again clears its broken mark; [Consent] implements
// [resolve.ConsentStore] and its setter; [SnapshotKeys] adds [resolve.Snapshotter] to a
// Keys; [Usage] implements [resolve.UsageSink] and the reads of package usage's Store.
// Each counts the calls that take a context and can be told to fail with FailWith. Team
// configuration in tests is a plain [resolve.Team] value.
package resolvetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

// ErrEmptyKey is returned by PutKey and PutGatewayKey for a key that is empty after
// trimming. The error returned also matches providers.ErrInvalidKey.
var ErrEmptyKey = errors.New("resolvetest: empty key")

// ErrNotBreaking is returned by ReportKeyFailure for a Failure whose Breaks is false: only
// a breaking failure marks a key.
var ErrNotBreaking = errors.New("resolvetest: failure does not break a key")

// Keys is an in-memory [resolve.KeyStore]. It is safe for concurrent use.
type Keys struct {
	mu      sync.Mutex // guards every field below
	keys    map[string]map[providers.ID]*storedKey
	urls    map[string]string
	allowed []string
	fail    error
	calls   int
	marks   int // writes of a broken mark (ReportKeyFailure calls that changed a mark)
	now     func() time.Time
}

type storedKey struct {
	secret   providers.Secret
	created  time.Time
	lastUsed time.Time         // zero when never used
	failure  providers.Failure // "" when not marked broken
	failedAt time.Time
}

var (
	_ resolve.KeyStore  = (*Keys)(nil)
	_ resolve.KeyHealth = (*Keys)(nil)
)

// NewKeys returns an empty store.
func NewKeys() *Keys {
	return &Keys{
		keys: map[string]map[providers.ID]*storedKey{},
		urls: map[string]string{},
		now:  time.Now,
	}
}

// AllowGatewayHosts sets the hosts PutGatewayBaseURL allows besides
// ai-gateway.vercel.sh, as resolve.WithAllowedGatewayHosts does for a Resolver.
func (k *Keys) AllowGatewayHosts(hosts ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.allowed = append([]string(nil), hosts...)
}

// Put stores a key (set-up helper: no context, never fails, no call counted).
func (k *Keys) Put(userID string, id providers.ID, key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.putLocked(userID, id, providers.NewSecret(key))
}

// Delete removes a key (set-up helper).
func (k *Keys) Delete(userID string, id providers.ID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys[userID], id)
}

// SetGatewayBaseURL stores a gateway base URL as given, without the URL policy, so a
// test can plant an unsafe one; "" removes it (set-up helper).
func (k *Keys) SetGatewayBaseURL(userID, url string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if url == "" {
		delete(k.urls, userID)
		return
	}
	k.urls[userID] = url
}

// FailWith makes every later call that takes a context return err; nil clears it.
func (k *Keys) FailWith(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fail = err
}

// Calls returns the number of calls that took a context so far.
func (k *Keys) Calls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls
}

// MarkBroken marks a stored key broken with f, as ReportKeyFailure does (set-up helper:
// no context, never fails, no call or mark counted). A key not stored is left alone.
func (k *Keys) MarkBroken(userID string, id providers.ID, f providers.Failure) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sk, ok := k.keys[userID][id]; ok {
		sk.failure, sk.failedAt = f, k.now()
	}
}

// KeyFailure returns the mark of a stored key: "" when it is healthy or not stored.
func (k *Keys) KeyFailure(userID string, id providers.ID) providers.Failure {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sk, ok := k.keys[userID][id]; ok {
		return sk.failure
	}
	return ""
}

// Marks returns the number of marks ReportKeyFailure wrote so far: the calls that
// changed a key's mark, as the Supabase store writes a row only then.
func (k *Keys) Marks() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.marks
}

// ReportKeyFailure implements [resolve.KeyHealth]: it marks the user's stored key for id
// broken with f, unless it already has that mark. f must be a Failure whose Breaks is
// true (otherwise ErrNotBreaking); a key not stored is not an error.
func (k *Keys) ReportKeyFailure(ctx context.Context, userID string, id providers.ID, f providers.Failure) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.enterLocked(ctx, userID); err != nil {
		return err
	}
	if !id.Valid() {
		return providers.ErrUnknown
	}
	if !f.Breaks() {
		return ErrNotBreaking
	}
	sk, ok := k.keys[userID][id]
	if !ok || sk.failure == f {
		return nil
	}
	sk.failure, sk.failedAt = f, k.now()
	k.marks++
	return nil
}

// Key implements [resolve.KeyStore]. A returned key's LastUsed is updated; a key marked
// broken gives a *resolve.BrokenKey.
func (k *Keys) Key(ctx context.Context, userID string, id providers.ID) (providers.Secret, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.enterLocked(ctx, userID); err != nil {
		return providers.Secret{}, err
	}
	return k.keyLocked(userID, id)
}

// GatewayBaseURL implements [resolve.KeyStore].
func (k *Keys) GatewayBaseURL(ctx context.Context, userID string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.enterLocked(ctx, userID); err != nil {
		return "", err
	}
	return k.urls[userID], nil
}

// PutKey stores or replaces the user's key for a provider. A key that fails
// providers.CheckKey is refused with an error matching providers.ErrInvalidKey (and
// ErrEmptyKey when it is empty).
func (k *Keys) PutKey(ctx context.Context, userID string, id providers.ID, key providers.Secret) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.enterLocked(ctx, userID); err != nil {
		return err
	}
	if !id.Valid() {
		return providers.ErrUnknown
	}
	if err := checkKey(key); err != nil {
		return err
	}
	k.putLocked(userID, id, key)
	return nil
}

// PutGatewayKey stores the user's gateway key and gateway base URL together: both
// change, or, when a check fails, neither does. The key is checked as PutKey checks it
// and the URL as PutGatewayBaseURL does; "" (or white space) means the default gateway
// URL and deletes a stored one.
func (k *Keys) PutGatewayKey(ctx context.Context, userID string, key providers.Secret, baseURL string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.enterLocked(ctx, userID); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	u := ""
	if strings.TrimSpace(baseURL) != "" {
		var err error
		if u, err = providers.CheckGatewayURL(baseURL, k.allowed...); err != nil {
			return err
		}
	}
	if u == "" {
		delete(k.urls, userID)
	} else {
		k.urls[userID] = u
	}
	k.putLocked(userID, providers.Gateway, key)
	return nil
}

// DeleteGatewayKey removes the user's gateway key and gateway base URL together;
// deleting what is not stored succeeds.
func (k *Keys) DeleteGatewayKey(ctx context.Context, userID string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.enterLocked(ctx, userID); err != nil {
		return err
	}
	delete(k.keys[userID], providers.Gateway)
	delete(k.urls, userID)
	return nil
}

// DeleteKey removes the user's key for a provider; deleting an absent key succeeds.
func (k *Keys) DeleteKey(ctx context.Context, userID string, id providers.ID) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.enterLocked(ctx, userID); err != nil {
		return err
	}
	if !id.Valid() {
		return providers.ErrUnknown
	}
	delete(k.keys[userID], id)
	return nil
}

// PutGatewayBaseURL stores the user's gateway base URL, normalized, after the URL
// policy (a rejection matches providers.ErrGatewayURL); "" deletes it.
func (k *Keys) PutGatewayBaseURL(ctx context.Context, userID, baseURL string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.enterLocked(ctx, userID); err != nil {
		return err
	}
	if strings.TrimSpace(baseURL) == "" {
		delete(k.urls, userID)
		return nil
	}
	u, err := providers.CheckGatewayURL(baseURL, k.allowed...)
	if err != nil {
		return err
	}
	k.urls[userID] = u
	return nil
}

// ListKeys returns the metadata of the user's keys, sorted by service; never a key.
func (k *Keys) ListKeys(ctx context.Context, userID string) ([]resolve.KeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.enterLocked(ctx, userID); err != nil {
		return nil, err
	}
	infos := []resolve.KeyInfo{}
	for id, sk := range k.keys[userID] {
		info := resolve.KeyInfo{Service: id, CreatedAt: sk.created, Failure: sk.failure}
		if !sk.lastUsed.IsZero() {
			t := sk.lastUsed
			info.LastUsed = &t
		}
		if sk.failure != "" {
			t := sk.failedAt
			info.FailedAt = &t
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b resolve.KeyInfo) int { return strings.Compare(string(a.Service), string(b.Service)) })
	return infos, nil
}

// enterLocked counts a call and returns the error it must fail with, if any: the
// context's, the planted one, or ErrInvalidUserID for an empty user id.
func (k *Keys) enterLocked(ctx context.Context, userID string) error {
	k.calls++
	return k.checkLocked(ctx, userID)
}

// checkLocked returns the error a call must fail with, without counting it.
func (k *Keys) checkLocked(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.fail != nil {
		return k.fail
	}
	if strings.TrimSpace(userID) == "" {
		return resolve.ErrInvalidUserID
	}
	return nil
}

// checkKey applies providers.CheckKey; an empty key also matches ErrEmptyKey.
func checkKey(key providers.Secret) error {
	if key.IsZero() {
		return fmt.Errorf("%w: %w", ErrEmptyKey, providers.ErrInvalidKey)
	}
	return providers.CheckKey(key.Reveal())
}

func (k *Keys) putLocked(userID string, id providers.ID, key providers.Secret) {
	m := k.keys[userID]
	if m == nil {
		m = map[providers.ID]*storedKey{}
		k.keys[userID] = m
	}
	m[id] = &storedKey{secret: key, created: k.now()}
}

func (k *Keys) keyLocked(userID string, id providers.ID) (providers.Secret, error) {
	sk, ok := k.keys[userID][id]
	if !ok || sk.secret.IsZero() {
		return providers.Secret{}, resolve.ErrNotFound
	}
	if sk.failure != "" {
		return providers.Secret{}, &resolve.BrokenKey{ID: id, Failure: sk.failure}
	}
	sk.lastUsed = k.now()
	return sk.secret, nil
}

// SnapshotKeys is a [Keys] that also implements [resolve.Snapshotter], answering a
// whole resolution in one call as the Supabase store does: the first key not marked
// broken, with the marked ones before it in Snapshot.Broken. It reports the consent
// when it was given a [Consent]. Its own Calls counts Snapshot calls; the calls it
// passes on to Keys (Key, GatewayBaseURL, ...) count there.
type SnapshotKeys struct {
	*Keys
	consent *Consent

	mu    sync.Mutex // guards calls
	calls int
}

var _ resolve.Snapshotter = (*SnapshotKeys)(nil)

// NewSnapshotKeys returns a Snapshotter over keys; consent may be nil, and then
// snapshots leave the consent unknown.
func NewSnapshotKeys(keys *Keys, consent *Consent) *SnapshotKeys {
	return &SnapshotKeys{Keys: keys, consent: consent}
}

// Calls returns the number of Snapshot calls so far.
func (s *SnapshotKeys) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Snapshot implements [resolve.Snapshotter]. It fails when the Keys (or the Consent)
// were told to FailWith.
func (s *SnapshotKeys) Snapshot(ctx context.Context, userID string, order []providers.ID) (resolve.Snapshot, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()

	var snap resolve.Snapshot
	if s.consent != nil {
		allow, err := s.consent.peek(ctx, userID)
		if err != nil {
			return resolve.Snapshot{}, err
		}
		snap.Consent = &allow
	}
	k := s.Keys
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkLocked(ctx, userID); err != nil {
		return resolve.Snapshot{}, err
	}
	snap.GatewayBaseURL = k.urls[userID]
	for _, id := range order {
		key, err := k.keyLocked(userID, id)
		var bk *resolve.BrokenKey
		if errors.As(err, &bk) {
			snap.Broken = append(snap.Broken, *bk)
			continue
		}
		if err == nil {
			snap.ID, snap.Key = id, key
			break
		}
	}
	return snap, nil
}

// Consent is an in-memory [resolve.ConsentStore]. It is safe for concurrent use.
type Consent struct {
	mu           sync.Mutex // guards every field below
	defaultAllow bool
	users        map[string]bool
	fail         error
	calls        int
}

var _ resolve.ConsentStore = (*Consent)(nil)

// NewConsent returns a store in which users without a setting have defaultAllow. The
// seed's database default is true.
func NewConsent(defaultAllow bool) *Consent {
	return &Consent{defaultAllow: defaultAllow, users: map[string]bool{}}
}

// Set sets a user's consent (set-up helper: no context, never fails, no call counted).
func (c *Consent) Set(userID string, allow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users[userID] = allow
}

// FailWith makes every later call that takes a context return err; nil clears it.
func (c *Consent) FailWith(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

// Calls returns the number of calls that took a context so far.
func (c *Consent) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// AllowGatewayFallback implements [resolve.ConsentStore].
func (c *Consent) AllowGatewayFallback(ctx context.Context, userID string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return c.readLocked(ctx, userID)
}

// SetAllowGatewayFallback sets the user's consent.
func (c *Consent) SetAllowGatewayFallback(ctx context.Context, userID string, allow bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if _, err := c.readLocked(ctx, userID); err != nil {
		return err
	}
	c.users[userID] = allow
	return nil
}

// peek reads the consent without counting a call (for SnapshotKeys).
func (c *Consent) peek(ctx context.Context, userID string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readLocked(ctx, userID)
}

func (c *Consent) readLocked(ctx context.Context, userID string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if c.fail != nil {
		return false, c.fail
	}
	if strings.TrimSpace(userID) == "" {
		return false, resolve.ErrInvalidUserID
	}
	if allow, ok := c.users[userID]; ok {
		return allow, nil
	}
	return c.defaultAllow, nil
}
