package storetest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/vault"
)

// Provider error bodies, as the providers write them.
const (
	gatewayInvalidKey = `{"error":{"message":"Invalid API key","type":"authentication_error"}}`
)

// failingUpstream answers every request with status and body.
func failingUpstream(t *testing.T, status int, body string) *resolvetest.Upstream {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return resolvetest.NewUpstream(srv)
}

// send makes one request with p through its Transport over base, and reads and closes
// the answer.
func send(t *testing.T, p resolve.Provider, base http.RoundTripper) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.BaseURL+"/chat/completions", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp, err := p.Transport(base).RoundTrip(req)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
}

// reportOutcomes returns the MetricKeyReports sums by outcome.
func reportOutcomes(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != resolve.MetricKeyReports {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("outcome")
				out[v.AsString()] += dp.Value
			}
		}
	}
	return out
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// testKeyHealth: a provider's refusal, seen through the Transport, marks the user's key in
// the database; resolution refuses it in the same one round trip, or skips it; the owner
// sees the mark; storing the key again clears it; a key failing 1,000 times costs one RPC.
func testKeyHealth(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	cc := &Counting{Caller: b.Caller}
	store, cons := vault.New(cc), consent.New(cc)
	user := b.NewUser(t)
	for _, id := range []providers.ID{providers.Gateway, providers.OpenAI, providers.Anthropic} {
		require.NoError(t, store.PutKey(ctx, user, id, Secret("health-"+string(id))))
	}
	r := resolve.New(store, cons, Team, resolve.WithKeyHealth(), resolve.WithCache(time.Hour))
	skip := resolve.New(store, cons, Team, resolve.WithSkipBrokenKeys())
	resolveNow := func(r *resolve.Resolver) (resolve.Provider, resolve.Path, error) {
		cc.Take()
		p, path, err := r.Resolve(ctx, user)
		assert.EqualValues(t, 1, cc.Take(), "one RPC per cold resolve, marks included")
		return p, path, err
	}
	marked := func(id providers.ID) func() bool {
		return func() bool {
			infos, err := store.ListKeys(ctx, user)
			require.NoError(t, err)
			for _, info := range infos {
				if info.Service == id {
					return info.Failure != ""
				}
			}
			return false
		}
	}

	p, path, err := resolveNow(r)
	require.NoError(t, err)
	require.Equal(t, resolve.UserGateway, path)
	send(t, p, failingUpstream(t, 401, gatewayInvalidKey))
	require.Eventually(t, marked(providers.Gateway), 30*time.Second, 5*time.Millisecond, "the gateway key is marked")

	_, path, err = resolveNow(r)
	require.ErrorIs(t, err, resolve.ErrKeyBroken)
	var re *resolve.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, providers.Gateway, re.Provider)
	assert.Equal(t, string(providers.FailureInvalidKey), re.Reason)
	assert.Empty(t, path)

	p, path, err = resolveNow(skip)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserProvider, path)
	assert.Equal(t, providers.OpenAI, p.ID)
	assert.Equal(t, "health-openai", p.APIKey.Reveal())

	require.NoError(t, store.ReportKeyFailure(ctx, user, providers.OpenAI, providers.FailureNoCredit))
	p, _, err = resolveNow(skip)
	require.NoError(t, err)
	assert.Equal(t, providers.Anthropic, p.ID)
	require.NoError(t, store.ReportKeyFailure(ctx, user, providers.Anthropic, providers.FailurePermission))
	_, path, err = resolveNow(skip)
	require.NoError(t, err)
	assert.Equal(t, resolve.TeamGateway, path, "every key marked: the team, with the user's consent")
	require.NoError(t, cons.SetAllowGatewayFallback(ctx, user, false))
	_, _, err = resolveNow(skip)
	require.ErrorIs(t, err, resolve.ErrFallbackDisabled)
	_, _, err = resolveNow(r)
	require.ErrorIs(t, err, resolve.ErrKeyBroken)

	infos, err := store.ListKeys(ctx, user)
	require.NoError(t, err)
	want := map[providers.ID]providers.Failure{providers.Anthropic: providers.FailurePermission,
		providers.Gateway: providers.FailureInvalidKey, providers.OpenAI: providers.FailureNoCredit}
	require.Len(t, infos, 3)
	for _, info := range infos {
		assert.Equal(t, want[info.Service], info.Failure, info.Service)
		if assert.NotNil(t, info.FailedAt, info.Service) {
			assert.WithinDuration(t, time.Now(), *info.FailedAt, 10*time.Minute)
		}
	}

	// Storing the gateway key again clears its mark.
	require.NoError(t, store.PutGatewayKey(ctx, user, Secret("health-gateway-2"), ""))
	r.Invalidate(user)
	p, path, err = resolveNow(r)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserGateway, path)
	assert.Equal(t, "health-gateway-2", p.APIKey.Reveal())

	// A key failing 1,000 times: one RPC.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	flood := resolve.New(store, cons, Team, resolve.WithKeyHealth(), resolve.WithMeterProvider(mp))
	p, _, err = flood.Resolve(ctx, user)
	require.NoError(t, err)
	cc.Take()
	base := answerBase{status: 401, body: gatewayInvalidKey}
	for range 1000 {
		send(t, p, base)
	}
	require.Eventually(t, func() bool { return total(reportOutcomes(t, reader)) == 1000 }, 30*time.Second, 5*time.Millisecond,
		"every failure is reported, throttled or dropped")
	assert.EqualValues(t, 1, cc.Take(), "RPCs for 1,000 failures")
	assert.Equal(t, int64(1), reportOutcomes(t, reader)["written"])
	assert.True(t, marked(providers.Gateway)())

	// Arguments are checked before any round trip.
	cc.Take()
	err = store.ReportKeyFailure(ctx, user, providers.OpenAI, providers.FailureRateLimited)
	assert.ErrorIs(t, err, supabase.ErrInvalidArgument)
	err = store.ReportKeyFailure(ctx, "not-a-uuid", providers.OpenAI, providers.FailureInvalidKey)
	assert.ErrorIs(t, err, resolve.ErrInvalidUserID)
	err = store.ReportKeyFailure(ctx, user, "nope", providers.FailureInvalidKey)
	assert.ErrorIs(t, err, providers.ErrUnknown)
	assert.Zero(t, cc.Take())
	assert.NoError(t, store.ReportKeyFailure(ctx, b.NewUser(t), providers.XAI, providers.FailureInvalidKey), "no key: nothing to mark")
}

// answerBase answers every request with status and a fresh body, without a network.
type answerBase struct {
	status int
	body   string
}

func (a answerBase) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{StatusCode: a.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(a.body)), Request: req}, nil
}
