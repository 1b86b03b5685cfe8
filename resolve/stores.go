package resolve

import (
	"context"
	"time"

	"github.com/byok-go/byok/providers"
)

// KeyStore holds users' own keys and gateway base URLs. Implementations are safe for
// concurrent use and return ErrNotFound (or a zero Secret) for a key the user has not
// stored; any other error stops resolution.
type KeyStore interface {
	// Key returns the user's key for the provider, or ErrNotFound.
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
	// providers) that the user has a key for, the user's gateway base URL and, if the
	// store knows it, the user's consent.
	Snapshot(ctx context.Context, userID string, order []providers.ID) (Snapshot, error)
}

// Snapshot is a [Snapshotter]'s answer.
type Snapshot struct {
	ID             providers.ID     // first service of order the user has a key for; "" if none
	Key            providers.Secret // that key; zero when ID is ""
	GatewayBaseURL string           // the user's gateway base URL; "" when none
	Consent        *bool            // nil when the store does not know; then the ConsentStore is asked
}

// KeyInfo is a stored key's metadata; never the key.
type KeyInfo struct {
	Service   providers.ID
	CreatedAt time.Time
	LastUsed  *time.Time // nil when never used
}
