// Package vault stores users' provider keys and gateway base URLs in Supabase Vault,
// through the project's service-role-only RPCs.
//
// [Store] implements [resolve.KeyStore], [resolve.Snapshotter] and [resolve.KeyHealth]:
// given to resolve.New, it answers a whole cold resolution, consent and broken marks
// included, in one RPC (get_user_byok_snapshot), and with resolve.WithKeyHealth it marks
// the keys the providers refuse (report_user_api_key_failure). It also has the writer
// methods a settings API needs and a Vault health probe. It works over any [supabase.Caller]: the PostgREST
// [supabase.Client] or a pgcall Caller.
//
// User ids must be canonical lowercase UUIDs (see supabase.ValidUserID); anything else
// fails with an error matching resolve.ErrInvalidUserID before any round trip. Error
// texts never contain a key, a user id or a database message.
package vault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
)

// Errors of this package besides those of resolve, providers and supabase.
var (
	// ErrEmptyKey: PutKey or PutGatewayKey was given a key that is empty after
	// trimming. The error returned also matches providers.ErrInvalidKey.
	ErrEmptyKey = errors.New("vault: empty key")
	// ErrUnhealthy: the Vault health probe answered but did not report success.
	ErrUnhealthy = errors.New("vault: health probe failed")
)

// Store is a [resolve.KeyStore], [resolve.Snapshotter] and [resolve.KeyHealth] on
// Supabase Vault. It holds no mutable state and is safe for concurrent use.
type Store struct {
	c       supabase.Caller
	allowed []string
}

var (
	_ resolve.KeyStore    = (*Store)(nil)
	_ resolve.Snapshotter = (*Store)(nil)
	_ resolve.KeyHealth   = (*Store)(nil)
)

// Option configures a [Store].
type Option interface{ apply(*Store) }

type option func(*Store)

func (o option) apply(s *Store) { o(s) }

// WithAllowedGatewayHosts sets the gateway hosts PutGatewayBaseURL accepts besides
// ai-gateway.vercel.sh; give it the same hosts as resolve.WithAllowedGatewayHosts.
func WithAllowedGatewayHosts(hosts ...string) Option {
	return option(func(s *Store) { s.allowed = append(s.allowed, hosts...) })
}

// New returns a Store calling c. A nil c gives a Store whose every call fails.
func New(c supabase.Caller, opts ...Option) *Store {
	s := &Store{c: c}
	for _, o := range opts {
		if o != nil {
			o.apply(s)
		}
	}
	return s
}

// RPC argument shapes.
type (
	userArgs struct {
		UserID string `json:"p_user_id"`
	}
	keyArgs struct {
		UserID  string `json:"p_user_id"`
		Service string `json:"p_service"`
	}
	putKeyArgs struct {
		UserID  string `json:"p_user_id"`
		Service string `json:"p_service"`
		APIKey  string `json:"p_api_key"`
	}
	baseURLArgs struct {
		UserID  string `json:"p_user_id"`
		BaseURL string `json:"p_base_url"`
	}
	gatewayKeyArgs struct {
		UserID  string `json:"p_user_id"`
		APIKey  string `json:"p_api_key"`
		BaseURL string `json:"p_base_url"`
	}
	snapshotArgs struct {
		UserID   string         `json:"p_user_id"`
		Services []providers.ID `json:"p_services"`
	}
	failureArgs struct {
		UserID  string `json:"p_user_id"`
		Service string `json:"p_service"`
		Failure string `json:"p_failure"`
	}
)

// Key returns the user's key for the provider, or an error matching
// resolve.ErrNotFound when none is stored. It returns a key marked broken like any other:
// a Resolver reads the marks through Snapshot, in the same round trip, and never calls Key
// on a Store; ListKeys shows them.
func (s *Store) Key(ctx context.Context, userID string, id providers.ID) (providers.Secret, error) {
	if err := s.check(userID, id); err != nil {
		return providers.Secret{}, err
	}
	var key *string
	if err := s.c.Call(ctx, "get_user_api_key", keyArgs{userID, string(id)}, &key); err != nil {
		return providers.Secret{}, fmt.Errorf("vault: get key: %w", err)
	}
	secret := providers.Secret{}
	if key != nil {
		secret = providers.NewSecret(*key)
	}
	if secret.IsZero() {
		return providers.Secret{}, resolve.ErrNotFound
	}
	return secret, nil
}

// GatewayBaseURL returns the user's stored gateway base URL, or "" when none is stored.
func (s *Store) GatewayBaseURL(ctx context.Context, userID string) (string, error) {
	if err := s.check(userID, providers.Gateway); err != nil {
		return "", err
	}
	var u *string
	if err := s.c.Call(ctx, "get_user_gateway_base_url", userArgs{userID}, &u); err != nil {
		return "", fmt.Errorf("vault: get gateway base url: %w", err)
	}
	if u == nil {
		return "", nil
	}
	return *u, nil
}

// snapshot is get_user_byok_snapshot's answer. The last four members are there only
// when the first key of the order is marked broken.
type snapshot struct {
	Service              *string `json:"service"`
	APIKey               *string `json:"api_key"`
	GatewayBaseURL       *string `json:"gateway_base_url"`
	AllowGatewayFallback *bool   `json:"allow_gateway_fallback"`

	Failure *string `json:"failure"`
	Broken  []struct {
		Service string `json:"service"`
		Failure string `json:"failure"`
	} `json:"broken"`
	NextService *string `json:"next_service"`
	NextAPIKey  *string `json:"next_api_key"`
}

// Snapshot answers a resolution in one RPC: the first provider of order the user has a
// key not marked broken for (its last_used is updated), with the marked keys of order
// before it, the gateway base URL and the consent.
func (s *Store) Snapshot(ctx context.Context, userID string, order []providers.ID) (resolve.Snapshot, error) {
	if err := s.checkUser(userID); err != nil {
		return resolve.Snapshot{}, err
	}
	for _, id := range order {
		if !id.Valid() {
			return resolve.Snapshot{}, fmt.Errorf("vault: snapshot: %w", providers.ErrUnknown)
		}
	}
	if order == nil {
		order = []providers.ID{} // an empty array, not null
	}
	var out snapshot
	if err := s.c.Call(ctx, "get_user_byok_snapshot", snapshotArgs{userID, order}, &out); err != nil {
		return resolve.Snapshot{}, fmt.Errorf("vault: snapshot: %w", err)
	}
	snap := resolve.Snapshot{Consent: out.AllowGatewayFallback}
	if out.GatewayBaseURL != nil {
		snap.GatewayBaseURL = *out.GatewayBaseURL
	}
	service, key := out.Service, out.APIKey
	if out.Failure != nil {
		// The first key is marked: the key offered is the next one, and the marked ones
		// before it are listed, the first key first.
		if out.Service == nil || len(out.Broken) == 0 || out.Broken[0].Service != *out.Service {
			return resolve.Snapshot{}, errMalformedSnapshot
		}
		for _, b := range out.Broken {
			bk := resolve.BrokenKey{ID: providers.ID(b.Service), Failure: providers.Failure(b.Failure)}
			if !slices.Contains(order, bk.ID) || !bk.Failure.Breaks() {
				return resolve.Snapshot{}, errMalformedSnapshot
			}
			snap.Broken = append(snap.Broken, bk)
		}
		service, key = out.NextService, out.NextAPIKey
	}
	if service != nil {
		id := providers.ID(*service)
		if !slices.Contains(order, id) || key == nil {
			return resolve.Snapshot{}, errMalformedSnapshot
		}
		if key := providers.NewSecret(*key); !key.IsZero() {
			snap.ID, snap.Key = id, key
		}
	}
	return snap, nil
}

var errMalformedSnapshot = fmt.Errorf("vault: snapshot: %w", supabase.ErrMalformedResponse)

// ReportKeyFailure implements [resolve.KeyHealth]: it marks the user's stored key for id
// broken with f and the time (report_user_api_key_failure), unless it already has that
// mark, in which case nothing is written. f must be a Failure whose Breaks is true; any
// other is refused before any round trip with an error matching
// supabase.ErrInvalidArgument. A key that is not stored is not an error. The mark, like
// any change to a key, notifies every replica (byok_invalidate), and storing the key
// again clears it.
func (s *Store) ReportKeyFailure(ctx context.Context, userID string, id providers.ID, f providers.Failure) error {
	if err := s.check(userID, id); err != nil {
		return err
	}
	if !f.Breaks() {
		return fmt.Errorf("vault: report key failure: not a breaking failure: %w", supabase.ErrInvalidArgument)
	}
	var marked bool
	if err := s.c.Call(ctx, "report_user_api_key_failure", failureArgs{userID, string(id), string(f)}, &marked); err != nil {
		return fmt.Errorf("vault: report key failure: %w", err)
	}
	return nil
}

// PutKey stores or replaces (rotates) the user's key for a provider. A key that fails
// providers.CheckKey is refused before any round trip with an error matching
// providers.ErrInvalidKey (and ErrEmptyKey when it is empty). A user that does not exist,
// or is deleted meanwhile, is a *supabase.Error with Code "23503". It does not touch the
// gateway base URL; PutGatewayKey writes both.
func (s *Store) PutKey(ctx context.Context, userID string, id providers.ID, key providers.Secret) error {
	if err := s.check(userID, id); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.c.Call(ctx, "insert_user_api_key", putKeyArgs{userID, string(id), key.Reveal()}, nil); err != nil {
		return fmt.Errorf("vault: put key: %w", err)
	}
	return nil
}

// PutGatewayKey stores the user's gateway key and gateway base URL in one transaction
// (put_user_gateway_key): both change, or, on any error, neither does. baseURL is
// checked and normalized as PutGatewayBaseURL does (a rejection matches
// providers.ErrGatewayURL); "" (or white space) means the default gateway URL and deletes
// a stored one. The key is checked as PutKey checks it. Nothing is sent when a check
// fails.
func (s *Store) PutGatewayKey(ctx context.Context, userID string, key providers.Secret, baseURL string) error {
	if err := s.checkUser(userID); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	u := ""
	if strings.TrimSpace(baseURL) != "" {
		var err error
		if u, err = providers.CheckGatewayURL(baseURL, s.allowed...); err != nil {
			return err
		}
	}
	if err := s.c.Call(ctx, "put_user_gateway_key", gatewayKeyArgs{userID, key.Reveal(), u}, nil); err != nil {
		return fmt.Errorf("vault: put gateway key: %w", err)
	}
	return nil
}

// DeleteGatewayKey removes the user's gateway key, its Vault secret and the gateway base
// URL in one transaction (delete_user_gateway_key). Deleting what is not stored succeeds.
func (s *Store) DeleteGatewayKey(ctx context.Context, userID string) error {
	if err := s.checkUser(userID); err != nil {
		return err
	}
	if err := s.c.Call(ctx, "delete_user_gateway_key", userArgs{userID}, nil); err != nil {
		return fmt.Errorf("vault: delete gateway key: %w", err)
	}
	return nil
}

// DeleteKey removes the user's key for a provider and its Vault secret. Deleting a key
// that is not stored succeeds. It does not delete the gateway base URL; DeleteGatewayKey
// deletes both.
func (s *Store) DeleteKey(ctx context.Context, userID string, id providers.ID) error {
	if err := s.check(userID, id); err != nil {
		return err
	}
	if err := s.c.Call(ctx, "delete_user_api_key", keyArgs{userID, string(id)}, nil); err != nil {
		return fmt.Errorf("vault: delete key: %w", err)
	}
	return nil
}

// PutGatewayBaseURL stores the user's gateway base URL, normalized, once it passes
// providers.CheckGatewayURL with the hosts of WithAllowedGatewayHosts (a rejection
// matches providers.ErrGatewayURL and nothing is stored). "" (or white space) deletes
// the stored URL.
func (s *Store) PutGatewayBaseURL(ctx context.Context, userID, baseURL string) error {
	if err := s.checkUser(userID); err != nil {
		return err
	}
	if strings.TrimSpace(baseURL) == "" {
		if err := s.c.Call(ctx, "delete_user_gateway_config", userArgs{userID}, nil); err != nil {
			return fmt.Errorf("vault: delete gateway base url: %w", err)
		}
		return nil
	}
	u, err := providers.CheckGatewayURL(baseURL, s.allowed...)
	if err != nil {
		return err
	}
	if err := s.c.Call(ctx, "upsert_user_gateway_config", baseURLArgs{userID, u}, nil); err != nil {
		return fmt.Errorf("vault: put gateway base url: %w", err)
	}
	return nil
}

// keyInfo is one element of list_user_api_keys' answer.
type keyInfo struct {
	Service   string     `json:"service"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used"`
	Failure   *string    `json:"failure"`
	FailedAt  *time.Time `json:"failed_at"`
}

// ListKeys returns the metadata of the user's stored keys, sorted by service, with the
// broken mark of each (KeyInfo.Failure and FailedAt); never a key. A user without keys
// gets an empty, non-nil slice.
func (s *Store) ListKeys(ctx context.Context, userID string) ([]resolve.KeyInfo, error) {
	if err := s.checkUser(userID); err != nil {
		return nil, err
	}
	var out []keyInfo
	if err := s.c.Call(ctx, "list_user_api_keys", userArgs{userID}, &out); err != nil {
		return nil, fmt.Errorf("vault: list keys: %w", err)
	}
	infos := make([]resolve.KeyInfo, 0, len(out))
	for _, k := range out {
		id := providers.ID(k.Service)
		if !id.Valid() {
			return nil, fmt.Errorf("vault: list keys: %w", supabase.ErrMalformedResponse)
		}
		info := resolve.KeyInfo{Service: id, CreatedAt: k.CreatedAt, LastUsed: k.LastUsed}
		if k.Failure != nil {
			info.Failure, info.FailedAt = providers.Failure(*k.Failure), k.FailedAt
			if !info.Failure.Breaks() || info.FailedAt == nil {
				return nil, fmt.Errorf("vault: list keys: %w", supabase.ErrMalformedResponse)
			}
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b resolve.KeyInfo) int { return cmp.Compare(a.Service, b.Service) })
	return infos, nil
}

// Health makes a Vault round trip: the database creates a probe secret, reads it back
// decrypted and deletes it. It returns nil when that worked.
func (s *Store) Health(ctx context.Context) error {
	if s.c == nil {
		return errNoCaller
	}
	var ok bool
	if err := s.c.Call(ctx, "check_vault_health", nil, &ok); err != nil {
		return fmt.Errorf("vault: health: %w", err)
	}
	if !ok {
		return ErrUnhealthy
	}
	return nil
}

var errNoCaller = fmt.Errorf("vault: no supabase caller: %w", supabase.ErrInvalidArgument)

func (s *Store) check(userID string, id providers.ID) error {
	if err := s.checkUser(userID); err != nil {
		return err
	}
	if !id.Valid() {
		return fmt.Errorf("vault: %w", providers.ErrUnknown)
	}
	return nil
}

// checkKey applies providers.CheckKey; an empty key also matches ErrEmptyKey.
func checkKey(key providers.Secret) error {
	if key.IsZero() {
		return fmt.Errorf("%w: %w", ErrEmptyKey, providers.ErrInvalidKey)
	}
	if err := providers.CheckKey(key.Reveal()); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return nil
}

func (s *Store) checkUser(userID string) error {
	if s.c == nil {
		return errNoCaller
	}
	if !supabase.ValidUserID(userID) {
		return fmt.Errorf("vault: user id is not a canonical uuid: %w", resolve.ErrInvalidUserID)
	}
	return nil
}
