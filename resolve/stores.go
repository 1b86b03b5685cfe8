package resolve

import (
	"context"
	"time"

	"github.com/byok-go/byok/providers"
)

// KeyStore holds users' own keys and gateway base URLs. Implementations are safe for
// concurrent use and return ErrNotFound (or a zero Secret) for a key the user has not
// stored; a store that keeps key health returns a *[BrokenKey] for a key marked broken;
// any other error stops resolution.
type KeyStore interface {
	// Key returns the user's key for the provider, ErrNotFound, or a *BrokenKey.
	Key(ctx context.Context, userID string, id providers.ID) (providers.Secret, error)
	// GatewayBaseURL returns the user's gateway base URL, or "" when none is stored.
	GatewayBaseURL(ctx context.Context, userID string) (string, error)
}

// ConsentStore reports whether a user lets the team's credentials serve them when they
// have none of their own. Implementations are safe for concurrent use. A store that
// has no answer for the user returns the default (true, as the database default is)
// or ErrNotFound, which the Resolver also reads as true.
type ConsentStore interface {
	AllowGatewayFallback(ctx context.Context, userID string) (bool, error)
}

// TeamConfig holds the team's credentials: the gateway key that path 3 uses and the
// server's provider keys that path 4 uses. [Team] is the usual implementation.
type TeamConfig interface {
	// TeamGateway returns the team's gateway key and base URL ("" = the default);
	// ErrNotFound when there is no team gateway key.
	TeamGateway(ctx context.Context) (key providers.Secret, baseURL string, err error)
	// ServerKey returns the server's key for a provider; ErrNotFound when unset.
	ServerKey(ctx context.Context, id providers.ID) (providers.Secret, error)
}

// Snapshotter is an optional upgrade of a [KeyStore]: it answers a whole resolution in
// one round trip. When the KeyStore given to [New] implements it, the Resolver calls
// Snapshot once per resolution instead of calling Key and GatewayBaseURL.
type Snapshotter interface {
	// Snapshot returns the first provider of order (gateway first, then the eligible
	// providers) that the user has a key for (one not marked broken, for a store that
	// keeps key health, with the marked ones before it in Broken), the user's gateway
	// base URL and, if the store knows it, the user's consent.
	Snapshot(ctx context.Context, userID string, order []providers.ID) (Snapshot, error)
}

// Snapshot is a [Snapshotter]'s answer.
//
// A store that keeps key health (see [KeyHealth]) answers with the first key of order
// that is not marked broken, and lists in Broken the keys of order before it that are:
// the Resolver refuses the first of them with [ErrKeyBroken], or skips them all with
// [WithSkipBrokenKeys]. A store that knows nothing of key health leaves Broken nil, as
// every Snapshotter did before it existed.
type Snapshot struct {
	ID             providers.ID     // first service of order the user has a key not marked broken for; "" if none
	Key            providers.Secret // that key; zero when ID is ""
	GatewayBaseURL string           // the user's gateway base URL; "" when none
	Consent        *bool            // nil when the store does not know; then the ConsentStore is asked

	// Broken lists, in the order of order, the services before ID (all of order when ID
	// is "") for which the user has a key marked broken, each with its Failure.
	Broken []BrokenKey
}

// KeyHealth is an optional upgrade of a [KeyStore]: it keeps a mark on each key a
// provider's answer showed to be broken. [WithKeyHealth] needs it.
//
// A store that implements it also answers for the marks: its Key returns a *[BrokenKey]
// error for a marked key, and its Snapshot (if it is a [Snapshotter]) fills
// Snapshot.Broken. Storing a key again clears its mark. vault.Store and resolvetest.Keys
// implement it.
type KeyHealth interface {
	// ReportKeyFailure marks the user's key for id as broken with f, a Failure whose
	// Breaks is true, and stamps the mark with the time. Reporting the mark a key
	// already has changes nothing (and should write nothing); a key not stored is not
	// an error. It is called off the request path, at most once a minute per key and
	// process, with a context bounded by the Resolver's store timeout.
	ReportKeyFailure(ctx context.Context, userID string, id providers.ID, f providers.Failure) error
}

// BrokenKey names a user's key marked broken and why. As an error (a *BrokenKey) it is
// what a [KeyStore]'s Key returns for such a key, and it matches [ErrKeyBroken]:
//
//	return providers.Secret{}, &resolve.BrokenKey{ID: id, Failure: f}
type BrokenKey struct {
	ID      providers.ID
	Failure providers.Failure // one whose Breaks is true
}

// Error names the service and the failure; never a key.
func (b *BrokenKey) Error() string {
	f := "unknown failure"
	if b.Failure.Breaks() {
		f = string(b.Failure)
	}
	id := "unknown"
	if b.ID.Valid() {
		id = string(b.ID)
	}
	return "resolve: " + id + " key marked broken (" + f + ")"
}

// Is reports whether target is [ErrKeyBroken].
func (b *BrokenKey) Is(target error) bool { return target == ErrKeyBroken }

// KeyInfo is a stored key's metadata; never the key.
type KeyInfo struct {
	Service   providers.ID
	CreatedAt time.Time
	LastUsed  *time.Time // nil when never used

	Failure  providers.Failure // the mark of a key a provider's answer showed broken; "" when healthy
	FailedAt *time.Time        // when it was marked; nil when healthy
}
