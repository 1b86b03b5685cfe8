package vault_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/vault"
)

// BenchmarkColdResolve compares a cold resolution over the real database (pgcall on the
// throwaway PostgreSQL) through the Snapshotter with the per-tier sequence the same store
// makes when its Snapshot method is hidden, for the two users whose per-tier sequence is
// the longest: one whose only key is xAI (last in the order) and one who falls back to the
// team gateway. There is no cache, so every Resolve is cold. RPCs/op is counted.
func BenchmarkColdResolve(b *testing.B) {
	db := pgtest.New(b)
	pool, err := pgxpool.New(context.Background(), db.AuthenticatorDSN)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	ctx := context.Background()

	xaiOnly := db.CreateUser(b)
	require.NoError(b, vault.New(pgcall.New(pool)).PutKey(ctx, xaiOnly, providers.XAI, secret("xai-bench")))
	teamUser := db.CreateUser(b)

	users := []struct {
		name string
		id   string
		path resolve.Path
	}{
		{"user=xai-only", xaiOnly, resolve.UserProvider},
		{"user=team-gateway", teamUser, resolve.TeamGateway},
	}
	for _, u := range users {
		for _, mode := range []string{"snapshot", "per-tier"} {
			b.Run(u.name+"/"+mode, func(b *testing.B) {
				cc := &counting{Caller: pgcall.New(pool)}
				store := vault.New(cc)
				var keys resolve.KeyStore = store
				if mode == "per-tier" {
					keys = perTier{store}
				}
				r := resolve.New(keys, consent.New(cc), team)
				if _, path, err := r.Resolve(ctx, u.id); err != nil || path != u.path {
					b.Fatalf("warm-up resolve: path %q, err %v", path, err)
				}
				cc.take()
				n := 0
				for b.Loop() {
					if _, _, err := r.Resolve(ctx, u.id); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(cc.take())/float64(n), "RPCs/op")
			})
		}
	}
}
