package pgnotify_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/storetest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/supabase/pgnotify"
	"github.com/byok-go/byok/vault"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// gatewayHosts are the gateway hosts the replicas and their stores allow.
var gatewayHosts = []string{"gw1.example.com", "gw2.example.com"}

// team is the team configuration of every replica: a gateway key, so that consent
// matters.
var team = resolve.Team{GatewayKey: providers.NewSecret("vck-team-fleet")}

// replica is one service instance: a Resolver with a cache gated by its own Listener,
// over the Supabase stores through pgcall.
type replica struct {
	r       *resolve.Resolver
	l       *pgnotify.Listener
	keys    *vault.Store
	consent *consent.Store
	calls   *storetest.Counting // every RPC of the stores
	name    string              // the listener's application_name
	invs    chan invalidation   // what the listener invalidated, in order
}

type invalidation struct {
	user string // "" for InvalidateAll
	at   time.Time
}

// watched passes invalidations to the Resolver and then reports them.
type watched struct {
	r  *resolve.Resolver
	ch chan invalidation
}

func (w watched) Invalidate(user string) {
	w.r.Invalidate(user)
	w.ch <- invalidation{user: user, at: time.Now()}
}

func (w watched) InvalidateAll() {
	w.r.InvalidateAll()
	w.ch <- invalidation{at: time.Now()}
}

var replicas atomic.Int64

// newReplica starts a replica on db. Its listener connects as postgres; its stores call
// as authenticator, as PostgREST would. Extra listener options come after the test's.
func newReplica(t *testing.T, db *pgtest.DB, opts ...pgnotify.Option) *replica {
	t.Helper()
	return newReplicaWith(t, db, nil, opts...)
}

// newReplicaWith is newReplica with extra Resolver options.
func newReplicaWith(t *testing.T, db *pgtest.DB, ropts []resolve.Option, opts ...pgnotify.Option) *replica {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.AuthenticatorDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	rp := &replica{
		calls: &storetest.Counting{Caller: pgcall.New(pool)},
		name:  "byok-test-listener-" + strconv.FormatInt(replicas.Add(1), 10),
		invs:  make(chan invalidation, 100_000),
	}
	rp.keys = vault.New(rp.calls, vault.WithAllowedGatewayHosts(gatewayHosts...))
	rp.consent = consent.New(rp.calls)
	rp.l = pgnotify.New(db.DSN+"&application_name="+rp.name,
		append([]pgnotify.Option{pgnotify.WithBackoff(10*time.Millisecond, 100*time.Millisecond)}, opts...)...)
	rp.r = resolve.New(rp.keys, rp.consent, team, append([]resolve.Option{resolve.WithCache(time.Hour),
		resolve.WithCacheGate(rp.l.Connected), resolve.WithAllowedGatewayHosts(gatewayHosts...)}, ropts...)...)
	rp.l.Add(watched{rp.r, rp.invs})

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rp.l.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	rp.waitConnected(t, true)
	return rp
}

// waitConnected polls until the listener's Connected is want.
func (rp *replica) waitConnected(t *testing.T, want bool) {
	t.Helper()
	require.Eventually(t, func() bool { return rp.l.Connected() == want }, 30*time.Second, 2*time.Millisecond,
		"Connected() never became %v", want)
}

// waitInvalidated waits until the listener has invalidated user and returns when it
// did.
func (rp *replica) waitInvalidated(t *testing.T, user string) time.Time {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case inv := <-rp.invs:
			if inv.user == user {
				return inv.at
			}
		case <-timeout:
			t.Fatalf("no invalidation of %s", user)
		}
	}
}

// drain forgets the invalidations so far.
func (rp *replica) drain() {
	for {
		select {
		case <-rp.invs:
		default:
			return
		}
	}
}

// backendPID returns the pid of the listener's server process.
func (rp *replica) backendPID(t *testing.T, db *pgtest.DB) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		return db.Pool.QueryRow(context.Background(),
			`select pid from pg_stat_activity where application_name = $1`, rp.name).Scan(&pid) == nil
	}, 10*time.Second, 5*time.Millisecond)
	return pid
}

// gate is a connect hook that a test can close to hold a listener disconnected.
type gate struct {
	closed  atomic.Bool
	open    chan struct{}
	waiting chan struct{} // receives when a connection attempt is held
}

func newGate() *gate { return &gate{open: make(chan struct{}), waiting: make(chan struct{}, 100)} }

func (g *gate) hook(ctx context.Context) {
	if !g.closed.Load() {
		return
	}
	g.waiting <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
	}
}

func (g *gate) release() { close(g.open) }
