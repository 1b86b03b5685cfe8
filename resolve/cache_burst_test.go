package resolve_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// A burst of cold resolves of one user, with nothing holding the flight open: callers
// that miss the cache just as the first resolution ends must still not start a second
// one. Each round is a fresh Resolver; every round must cost exactly the store calls of
// one uncached resolution.
func TestCache_burstOfColdMissesCostsOneResolution(t *testing.T) {
	const (
		rounds  = 200
		callers = 64
	)
	for _, tc := range []struct {
		name string
		keys func() *resolvetest.Keys
	}{
		{"user-provider", func() *resolvetest.Keys {
			k := resolvetest.NewKeys()
			k.Put(user1, providers.XAI, "u-xa")
			return k
		}},
		{"team-gateway", resolvetest.NewKeys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			baseKeys, baseConsent := tc.keys(), resolvetest.NewConsent(true)
			_, wantPath, err := resolve.New(baseKeys, baseConsent, teamGateway("t-gw", "")).Resolve(t.Context(), user1)
			require.NoError(t, err)
			want := baseKeys.Calls() + baseConsent.Calls()
			require.Positive(t, want)

			extra := 0
			for round := range rounds {
				keys, consent := tc.keys(), resolvetest.NewConsent(true)
				r := resolve.New(keys, consent, teamGateway("t-gw", ""), resolve.WithCache(time.Minute))
				start := make(chan struct{})
				errs := make(chan error, callers)
				var wg sync.WaitGroup
				for range callers {
					wg.Go(func() {
						<-start
						_, path, err := r.Resolve(t.Context(), user1)
						if err == nil && path != wantPath {
							err = assertPathErr{got: path, want: wantPath}
						}
						errs <- err
					})
				}
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err, "round %d", round)
				}
				if got := keys.Calls() + consent.Calls(); got != want {
					extra++
					t.Errorf("round %d: %d callers made %d store calls, want %d (one resolution)", round, callers, got, want)
				}
			}
			require.Zero(t, extra, "rounds with more than one resolution")
		})
	}
}

type assertPathErr struct{ got, want resolve.Path }

func (e assertPathErr) Error() string { return "path " + string(e.got) + ", want " + string(e.want) }
