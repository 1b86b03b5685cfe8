package resolve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/byok-go/byok/internal/testkit"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// Error bodies as the providers write them.
const (
	openAIInvalidKey = `{"error":{"message":"Incorrect API key provided: sk-user*******1234. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	openAINoQuota    = `{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`
	openAIRateLimit  = `{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	openAINoModel    = `{"error":{"message":"The model ` + "`gpt-9`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`
	anthropicLow     = `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`
	gatewayBadKey    = `{"error":{"message":"Invalid API key","type":"authentication_error"}}`
)

// healthKeys is a KeyStore with KeyHealth that counts ReportKeyFailure calls and can be
// made to fail them; it is a Snapshotter when snap is set.
type healthKeys struct {
	*resolvetest.Keys
	reports   atomic.Int64
	reportErr atomic.Pointer[error]
}

func (h *healthKeys) ReportKeyFailure(ctx context.Context, userID string, id providers.ID, f providers.Failure) error {
	h.reports.Add(1)
	if err := h.reportErr.Load(); err != nil {
		return *err
	}
	return h.Keys.ReportKeyFailure(ctx, userID, id, f)
}

// snapHealthKeys is healthKeys with resolvetest's Snapshot.
type snapHealthKeys struct {
	*healthKeys
	snap *resolvetest.SnapshotKeys
}

func (s snapHealthKeys) Snapshot(ctx context.Context, userID string, order []providers.ID) (resolve.Snapshot, error) {
	return s.snap.Snapshot(ctx, userID, order)
}

// stores returns the two kinds of KeyStore over the same keys: one Resolve per Key call,
// and one Snapshot per resolution.
func stores(keys *resolvetest.Keys) (*healthKeys, map[string]resolve.KeyStore) {
	h := &healthKeys{Keys: keys}
	return h, map[string]resolve.KeyStore{
		"keys":     h,
		"snapshot": snapHealthKeys{h, resolvetest.NewSnapshotKeys(keys, nil)},
	}
}

// answering is an upstream that answers every request with status and body.
func answering(t *testing.T, status int, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// call sends one request with p through its Transport to srv, reads the whole body and
// closes it.
func call(t *testing.T, p resolve.Provider, srv *httptest.Server) (int, []byte) {
	t.Helper()
	client := &http.Client{Transport: p.Transport(resolvetest.NewUpstream(srv))}
	resp, err := client.Post(p.BaseURL+"/chat/completions", "application/json", strings.NewReader(`{"model":"m"}`))
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode, b
}

func brokenErr(t *testing.T, err error) *resolve.Error {
	t.Helper()
	require.ErrorIs(t, err, resolve.ErrKeyBroken)
	var re *resolve.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "key_broken", re.Code())
	return re
}

var fullTeam = resolve.Team{
	GatewayKey: providers.NewSecret("vck-team-health"),
	ServerKeys: map[providers.ID]providers.Secret{providers.OpenAI: providers.NewSecret("sk-server-health")},
}

// Through the Transport, each provider answer marks the user's key or not, the caller
// reads the answer as sent, the next Resolve refuses a marked key without falling
// through to the team, and storing the key again resolves again.
func TestKeyHealth_transportMarksBreakingFailures(t *testing.T) {
	cases := []struct {
		name   string
		id     providers.ID
		status int
		body   string
		want   providers.Failure
	}{
		{"openai 401 invalid_api_key", providers.OpenAI, 401, openAIInvalidKey, providers.FailureInvalidKey},
		{"anthropic 400 credit balance too low", providers.Anthropic, 400, anthropicLow, providers.FailureNoCredit},
		{"openai 429 insufficient_quota", providers.OpenAI, 429, openAINoQuota, providers.FailureNoCredit},
		{"openai 429 rate_limit_exceeded", providers.OpenAI, 429, openAIRateLimit, ""},
		{"openai 404 model_not_found", providers.OpenAI, 404, openAINoModel, ""},
		{"openai 400 without a body", providers.OpenAI, 400, "", ""},
	}
	for _, c := range cases {
		keys := resolvetest.NewKeys()
		counting, all := stores(keys)
		for kind, store := range all {
			t.Run(c.name+"/"+kind, func(t *testing.T) {
				require.NoError(t, keys.PutKey(t.Context(), user1, c.id, secret("sk-user-health-1234")))
				counting.reports.Store(0)
				r := resolve.New(store, resolvetest.NewConsent(true), fullTeam, resolve.WithKeyHealth(), resolve.WithCache(time.Hour))
				p, path, err := r.Resolve(t.Context(), user1)
				require.NoError(t, err)
				require.Equal(t, resolve.UserProvider, path)

				status, body := call(t, p, answering(t, c.status, c.body))
				assert.Equal(t, c.status, status)
				assert.Equal(t, c.body, string(body), "the caller reads the answer as sent")
				resolve.WaitKeyReports(r)
				assert.Equal(t, c.want, keys.KeyFailure(user1, c.id))

				_, path, err = r.Resolve(t.Context(), user1)
				if c.want == "" {
					require.NoError(t, err)
					assert.Equal(t, resolve.UserProvider, path)
					assert.Zero(t, counting.reports.Load(), "nothing is reported")
					return
				}
				re := brokenErr(t, err)
				assert.Equal(t, string(c.want), re.Reason)
				assert.Equal(t, c.id, re.Provider)
				assert.Equal(t, resolve.StepUserProvider, re.Step)
				assert.Empty(t, path, "never a team path")
				assert.Contains(t, err.Error(), string(c.id))
				assert.Contains(t, err.Error(), string(c.want))
				assert.EqualValues(t, 1, counting.reports.Load())

				// Storing the key again clears the mark; the HTTP API invalidates after a write.
				require.NoError(t, keys.PutKey(t.Context(), user1, c.id, secret("sk-user-health-5678")))
				r.Invalidate(user1)
				p, path, err = r.Resolve(t.Context(), user1)
				require.NoError(t, err)
				assert.Equal(t, resolve.UserProvider, path)
				assert.Equal(t, "sk-user-health-5678", p.APIKey.Reveal())
			})
		}
	}
}

// The user's own gateway key is judged as the gateway writes its errors.
func TestKeyHealth_userGatewayKey(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.Gateway, "vck-user-health")
	keys.Put(user1, providers.OpenAI, "sk-user-health")
	_, all := stores(keys)
	for kind, store := range all {
		t.Run(kind, func(t *testing.T) {
			keys.Put(user1, providers.Gateway, "vck-user-health") // a fresh, healthy key
			r := resolve.New(store, resolvetest.NewConsent(true), fullTeam, resolve.WithKeyHealth())
			p, path, err := r.Resolve(t.Context(), user1)
			require.NoError(t, err)
			require.Equal(t, resolve.UserGateway, path)
			call(t, p, answering(t, 401, gatewayBadKey))
			resolve.WaitKeyReports(r)
			assert.Equal(t, providers.FailureInvalidKey, keys.KeyFailure(user1, providers.Gateway))

			_, _, err = r.Resolve(t.Context(), user1)
			re := brokenErr(t, err)
			assert.Equal(t, providers.Gateway, re.Provider)
			assert.Equal(t, resolve.StepUserGateway, re.Step)

			// With WithSkipBrokenKeys, the user's next key serves.
			skip := resolve.New(store, resolvetest.NewConsent(true), fullTeam, resolve.WithKeyHealth(), resolve.WithSkipBrokenKeys())
			p, path, err = skip.Resolve(t.Context(), user1)
			require.NoError(t, err)
			assert.Equal(t, resolve.UserProvider, path)
			assert.Equal(t, providers.OpenAI, p.ID)
		})
	}
}

// Team and server credentials are the operator's: their failures are counted, never
// reported. On gateway-byok the gateway's answer judges the team's gateway key.
func TestKeyHealth_teamCredentialsAreNeverMarked(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	cases := []struct {
		name   string
		setup  func(*resolvetest.Keys)
		team   resolve.Team
		opts   []resolve.Option
		path   resolve.Path
		status int
		body   string
	}{
		{"team-gateway", func(*resolvetest.Keys) {}, fullTeam, nil, resolve.TeamGateway, 401, gatewayBadKey},
		{"server-provider", func(*resolvetest.Keys) {}, resolve.Team{ServerKeys: fullTeam.ServerKeys}, nil, resolve.ServerProvider, 401, openAIInvalidKey},
		{"gateway-byok, the gateway's own answer", func(k *resolvetest.Keys) { k.Put(user1, providers.OpenAI, "sk-user-byok") },
			fullTeam, []resolve.Option{resolve.WithGatewayBYOK()}, resolve.GatewayBYOK, 401, gatewayBadKey},
		{"gateway-byok, an upstream answer relayed", func(k *resolvetest.Keys) { k.Put(user1, providers.OpenAI, "sk-user-byok") },
			fullTeam, []resolve.Option{resolve.WithGatewayBYOK()}, resolve.GatewayBYOK, 401, openAIInvalidKey},
		{"gateway-byok, 402", func(k *resolvetest.Keys) { k.Put(user1, providers.OpenAI, "sk-user-byok") },
			fullTeam, []resolve.Option{resolve.WithGatewayBYOK()}, resolve.GatewayBYOK, 402, `{"error":{"message":"Insufficient funds","type":"insufficient_funds"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := resolvetest.NewKeys()
			c.setup(keys)
			counting := &healthKeys{Keys: keys}
			opts := append([]resolve.Option{resolve.WithKeyHealth(), resolve.WithMeterProvider(mp)}, c.opts...)
			r := resolve.New(counting, resolvetest.NewConsent(true), c.team, opts...)
			p, path, err := r.Resolve(t.Context(), user1)
			require.NoError(t, err)
			require.Equal(t, c.path, path)
			for range 3 {
				call(t, p, answering(t, c.status, c.body))
			}
			resolve.WaitKeyReports(r)
			assert.Zero(t, counting.reports.Load())
			assert.Empty(t, keys.KeyFailure(user1, providers.OpenAI))
			_, path, err = r.Resolve(t.Context(), user1)
			require.NoError(t, err)
			assert.Equal(t, c.path, path)
		})
	}
	failures := sums(t, reader, resolve.MetricKeyFailures)
	assert.Equal(t, int64(3), failures["provider=gateway,failure=invalid_key,path=team-gateway"], failures)
	assert.Equal(t, int64(3), failures["provider=openai,failure=invalid_key,path=server-provider"], failures)
	assert.Equal(t, int64(3), failures["provider=gateway,failure=invalid_key,path=gateway-byok"], failures)
	assert.Equal(t, int64(3), failures["provider=gateway,failure=insufficient_credit,path=gateway-byok"], failures)
	assert.Empty(t, sums(t, reader, resolve.MetricKeyReports), "no report was even considered")
}

// sums returns the sums of an Int64 counter by its attributes, as "k=v,k=v" in the
// order recorded.
func sums(t *testing.T, reader *sdkmetric.ManualReader, name string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				var parts []string
				for _, key := range []string{"provider", "failure", "path", "outcome"} {
					if v, ok := dp.Attributes.Value(attribute.Key(key)); ok {
						parts = append(parts, key+"="+v.AsString())
					}
				}
				assert.Equal(t, len(parts), dp.Attributes.Len(), "only the documented attributes")
				out[strings.Join(parts, ",")] += dp.Value
			}
		}
	}
	return out
}

// WithSkipBrokenKeys: a broken key counts as absent; the team tiers still need consent.
func TestKeyHealth_skipBrokenKeys(t *testing.T) {
	type want struct {
		path resolve.Path
		id   providers.ID
		err  error
	}
	cases := []struct {
		name    string
		setup   func(*resolvetest.Keys)
		consent bool
		noSkip  want
		skip    want
	}{
		{"broken openai, good anthropic", func(k *resolvetest.Keys) {
			k.Put(user1, providers.OpenAI, "sk-user-o")
			k.Put(user1, providers.Anthropic, "sk-ant-user-a")
			k.MarkBroken(user1, providers.OpenAI, providers.FailureInvalidKey)
		}, false, want{err: resolve.ErrKeyBroken}, want{path: resolve.UserProvider, id: providers.Anthropic}},
		{"only key broken, consent off", func(k *resolvetest.Keys) {
			k.Put(user1, providers.OpenAI, "sk-user-o")
			k.MarkBroken(user1, providers.OpenAI, providers.FailureNoCredit)
		}, false, want{err: resolve.ErrKeyBroken}, want{err: resolve.ErrFallbackDisabled}},
		{"only key broken, consent on", func(k *resolvetest.Keys) {
			k.Put(user1, providers.OpenAI, "sk-user-o")
			k.MarkBroken(user1, providers.OpenAI, providers.FailurePermission)
		}, true, want{err: resolve.ErrKeyBroken}, want{path: resolve.TeamGateway, id: providers.Gateway}},
		{"broken gateway key, good openai", func(k *resolvetest.Keys) {
			k.Put(user1, providers.Gateway, "vck-user-g")
			k.Put(user1, providers.OpenAI, "sk-user-o")
			k.MarkBroken(user1, providers.Gateway, providers.FailureInvalidKey)
		}, false, want{err: resolve.ErrKeyBroken}, want{path: resolve.UserProvider, id: providers.OpenAI}},
		{"a broken key after a good one is not looked at", func(k *resolvetest.Keys) {
			k.Put(user1, providers.OpenAI, "sk-user-o")
			k.Put(user1, providers.Anthropic, "sk-ant-user-a")
			k.MarkBroken(user1, providers.Anthropic, providers.FailureInvalidKey)
		}, false, want{path: resolve.UserProvider, id: providers.OpenAI}, want{path: resolve.UserProvider, id: providers.OpenAI}},
	}
	for _, c := range cases {
		keys := resolvetest.NewKeys()
		c.setup(keys)
		_, all := stores(keys)
		for kind, store := range all {
			for _, skip := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/skip=%v", c.name, kind, skip), func(t *testing.T) {
					opts := []resolve.Option{resolve.WithKeyHealth()}
					w := c.noSkip
					if skip {
						opts, w = append(opts, resolve.WithSkipBrokenKeys()), c.skip
					}
					r := resolve.New(store, resolvetest.NewConsent(c.consent), fullTeam, opts...)
					p, path, err := r.Resolve(t.Context(), user1)
					if w.err != nil {
						require.ErrorIs(t, err, w.err)
						assert.Empty(t, path)
						return
					}
					require.NoError(t, err)
					assert.Equal(t, w.path, path)
					assert.Equal(t, w.id, p.ID)
				})
			}
		}
	}
}

// A marked key is refused whether or not the Resolver itself keeps key health: the
// mark may come from another replica.
func TestKeyHealth_marksAreHonouredWithoutWithKeyHealth(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "sk-user-o")
	keys.MarkBroken(user1, providers.OpenAI, providers.FailureInvalidKey)
	_, all := stores(keys)
	for kind, store := range all {
		t.Run(kind, func(t *testing.T) {
			r := resolve.New(store, resolvetest.NewConsent(true), fullTeam)
			_, _, err := r.Resolve(t.Context(), user1)
			assert.Equal(t, "invalid_key", brokenErr(t, err).Reason)
		})
	}
}

func TestKeyHealth_needsAKeyStoreWithKeyHealth(t *testing.T) {
	type plain struct{ resolve.KeyStore }
	r := resolve.New(plain{resolvetest.NewKeys()}, resolvetest.NewConsent(true), fullTeam, resolve.WithKeyHealth())
	_, _, err := r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "KeyHealth")
}

// brokenStore answers Key and Snapshot as told.
type brokenStore struct {
	keyErr error
	snap   resolve.Snapshot
}

func (s brokenStore) Key(context.Context, string, providers.ID) (providers.Secret, error) {
	return providers.Secret{}, s.keyErr
}
func (brokenStore) GatewayBaseURL(context.Context, string) (string, error) { return "", nil }

type brokenSnapshotter struct{ brokenStore }

func (s brokenSnapshotter) Snapshot(context.Context, string, []providers.ID) (resolve.Snapshot, error) {
	return s.snap, nil
}

// A store that breaks the contract of key health is a failing store: resolution stops
// with ErrStoreUnavailable, never with a guess.
func TestKeyHealth_inconsistentStoresFailClosed(t *testing.T) {
	bk := func(id providers.ID, f providers.Failure) resolve.BrokenKey {
		return resolve.BrokenKey{ID: id, Failure: f}
	}
	cases := map[string]resolve.KeyStore{
		"Key: another service":        brokenStore{keyErr: &resolve.BrokenKey{ID: providers.XAI, Failure: providers.FailureInvalidKey}},
		"Key: a non-breaking failure": brokenStore{keyErr: &resolve.BrokenKey{ID: providers.Gateway, Failure: providers.FailureRateLimited}},
		"Key: the bare sentinel":      brokenStore{keyErr: fmt.Errorf("store: %w", resolve.ErrKeyBroken)},
		"Snapshot: not asked for": brokenSnapshotter{brokenStore{snap: resolve.Snapshot{
			Broken: []resolve.BrokenKey{bk("nope", providers.FailureInvalidKey)}}}},
		"Snapshot: out of order": brokenSnapshotter{brokenStore{snap: resolve.Snapshot{
			Broken: []resolve.BrokenKey{bk(providers.Anthropic, providers.FailureInvalidKey), bk(providers.OpenAI, providers.FailureInvalidKey)}}}},
		"Snapshot: after the key": brokenSnapshotter{brokenStore{snap: resolve.Snapshot{ID: providers.OpenAI, Key: secret("sk-x"),
			Broken: []resolve.BrokenKey{bk(providers.Anthropic, providers.FailureInvalidKey)}}}},
		"Snapshot: the key itself": brokenSnapshotter{brokenStore{snap: resolve.Snapshot{ID: providers.OpenAI, Key: secret("sk-x"),
			Broken: []resolve.BrokenKey{bk(providers.OpenAI, providers.FailureInvalidKey)}}}},
		"Snapshot: a non-breaking failure": brokenSnapshotter{brokenStore{snap: resolve.Snapshot{
			Broken: []resolve.BrokenKey{bk(providers.OpenAI, providers.FailureModelNotAllowed)}}}},
	}
	for name, store := range cases {
		for _, skip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/skip=%v", name, skip), func(t *testing.T) {
				var opts []resolve.Option
				if skip {
					opts = append(opts, resolve.WithSkipBrokenKeys())
				}
				r := resolve.New(store, resolvetest.NewConsent(true), fullTeam, opts...)
				_, path, err := r.Resolve(t.Context(), user1)
				require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
				assert.NotErrorIs(t, err, resolve.ErrKeyBroken)
				assert.Empty(t, path)
			})
		}
	}
}

// A key failing 1,000 times costs one write, and another only a minute later.
func TestKeyHealth_thousandFailuresOneWrite(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	var clock atomic.Int64
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "sk-user-flood")
	counting := &healthKeys{Keys: keys}
	r := resolve.New(counting, resolvetest.NewConsent(true), fullTeam, resolve.WithKeyHealth(), resolve.WithMeterProvider(mp),
		resolve.WithClock(func() time.Duration { return time.Duration(clock.Load()) }))
	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	tr := p.Transport(answerBase{status: 401, body: openAIInvalidKey})

	send := func(n int) {
		for range n {
			req, err := http.NewRequest(http.MethodPost, p.BaseURL+"/chat/completions", http.NoBody)
			require.NoError(t, err)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			_, err = io.Copy(io.Discard, resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
		}
		resolve.WaitKeyReports(r)
	}
	send(1000)
	assert.EqualValues(t, 1, counting.reports.Load(), "ReportKeyFailure calls")
	assert.Equal(t, 1, keys.Marks(), "marks written")
	failures := sums(t, reader, resolve.MetricKeyFailures)["provider=openai,failure=invalid_key,path=user-provider"]
	reports := sums(t, reader, resolve.MetricKeyReports)
	assert.Equal(t, int64(1), reports["outcome=written"])
	assert.Equal(t, failures-1, reports["outcome=throttled"], reports)
	assert.Equal(t, int64(1000), failures+reports["outcome=dropped"], "each failure is read or dropped and counted")

	clock.Add(int64(59 * time.Second))
	send(100)
	assert.EqualValues(t, 1, counting.reports.Load(), "still within the minute")
	clock.Add(int64(2 * time.Second))
	send(100)
	assert.EqualValues(t, 2, counting.reports.Load(), "a minute later, one more report")
	assert.Equal(t, 1, keys.Marks(), "the same mark again writes nothing")
}

// answerBase answers every request with status and a fresh body.
type answerBase struct {
	status int
	body   string
}

func (b answerBase) RoundTrip(req *http.Request) (*http.Response, error) {
	closeReq(req)
	return &http.Response{StatusCode: b.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(b.body)), Request: req}, nil
}

func closeReq(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// givenBase answers every request with status and the given body.
type givenBase struct {
	status int
	body   io.ReadCloser
}

func (b givenBase) RoundTrip(req *http.Request) (*http.Response, error) {
	closeReq(req)
	return &http.Response{StatusCode: b.status, Header: http.Header{}, Body: b.body, Request: req}, nil
}

// plainBody is a body with an identity.
type plainBody struct{ io.Reader }

func (*plainBody) Close() error { return nil }

func healthResolver(t *testing.T, opts ...resolve.Option) (*resolve.Resolver, *healthKeys, resolve.Provider) {
	t.Helper()
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "sk-user-body")
	counting := &healthKeys{Keys: keys}
	r := resolve.New(counting, resolvetest.NewConsent(true), fullTeam, append([]resolve.Option{resolve.WithKeyHealth()}, opts...)...)
	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	return r, counting, p
}

func roundTrip(t *testing.T, tr http.RoundTripper, p resolve.Provider) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.BaseURL+"/chat/completions", http.NoBody)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	return resp
}

// A 2xx, and any answer outside 400-499, is handed over as the base returned it: its
// body is not wrapped, read or copied.
func TestKeyHealth_otherAnswersAreUntouched(t *testing.T) {
	_, counting, p := healthResolver(t)
	for _, status := range []int{200, 201, 204, 301, 500, 503} {
		body := &plainBody{strings.NewReader(openAIInvalidKey)}
		resp := roundTrip(t, p.Transport(givenBase{status: status, body: body}), p)
		assert.Same(t, body, resp.Body.(*plainBody), "status %d", status)
	}
	assert.Zero(t, counting.reports.Load())
}

// The caller reads every byte of an error body as sent, however it reads: a body larger
// than the 64 KiB read for classification, in reads of any size.
func TestKeyHealth_callerReadsTheBodyByteForByte(t *testing.T) {
	big := make([]byte, 200<<10)
	for i := range big {
		big[i] = byte(rand.IntN(256))
	}
	copy(big, openAIInvalidKey)
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	}
	for _, body := range [][]byte{[]byte(openAIInvalidKey), big, {}} {
		for name, wrap := range readers {
			t.Run(fmt.Sprintf("%d bytes/%s", len(body), name), func(t *testing.T) {
				r, _, p := healthResolver(t)
				resp := roundTrip(t, p.Transport(givenBase{status: 401, body: io.NopCloser(bytes.NewReader(body))}), p)
				got, err := io.ReadAll(wrap(resp.Body))
				require.NoError(t, err)
				assert.True(t, bytes.Equal(body, got), "the caller reads what the provider sent")
				n, err := resp.Body.Read(make([]byte, 8))
				assert.Zero(t, n)
				assert.Equal(t, io.EOF, err, "EOF again after the end")
				require.NoError(t, resp.Body.Close())
				require.NoError(t, resp.Body.Close(), "a second Close is harmless")
				_, err = resp.Body.Read(make([]byte, 8))
				assert.Error(t, err, "reading after Close fails")
				resolve.WaitKeyReports(r)
			})
		}
	}
}

// An error body arrives as the provider sends it: the Transport holds back nothing.
func TestKeyHealth_streamingBodyIsNotHeldBack(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"error":{"message":"first part",`)
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, `"type":"invalid_request_error","code":"invalid_api_key"}}`)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	r, counting, p := healthResolver(t)
	client := &http.Client{Transport: p.Transport(resolvetest.NewUpstream(srv))}
	resp, err := client.Post(p.BaseURL+"/chat/completions", "application/json", http.NoBody)
	require.NoError(t, err)
	first := make([]byte, len(`{"error":{"message":"first part",`))
	_, err = io.ReadFull(resp.Body, first) // would hang if the Transport waited for the rest
	require.NoError(t, err)
	assert.Equal(t, `{"error":{"message":"first part",`, string(first))
	close(release)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, `"type":"invalid_request_error","code":"invalid_api_key"}}`, string(rest))
	require.NoError(t, resp.Body.Close())
	resolve.WaitKeyReports(r)
	assert.EqualValues(t, 1, counting.reports.Load(), "read in two parts, classified whole")
}

// A caller that closes an error body without reading it gets its Close at once; the
// Resolver reads the answer on its own and still marks the key.
func TestKeyHealth_closeWithoutRead(t *testing.T) {
	r, counting, p := healthResolver(t)
	client := &http.Client{Transport: p.Transport(resolvetest.NewUpstream(answering(t, 401, openAIInvalidKey)))}
	resp, err := client.Post(p.BaseURL+"/chat/completions", "application/json", http.NoBody)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	resolve.WaitKeyReports(r)
	assert.EqualValues(t, 1, counting.reports.Load())
	assert.Equal(t, providers.FailureInvalidKey, counting.KeyFailure(user1, providers.OpenAI))
}

// A body that stalls after a partial answer, closed early by its caller: the caller's
// Close returns at once, the Resolver gives up after its bound and closes the body, and
// a body not seen whole marks nothing.
func TestKeyHealth_stalledBodyClosedEarly(t *testing.T) {
	r, counting, p := healthResolver(t, resolve.WithDrainTimeout(20*time.Millisecond))
	body := testkit.NewStallingBody(`{"error":{"code":"invalid_api_key"`)
	resp := roundTrip(t, p.Transport(givenBase{status: 401, body: body}), p)
	require.NoError(t, resp.Body.Close()) // would hang if Close waited for the body
	resolve.WaitKeyReports(r)             // would hang if nothing bounded the read
	select {
	case <-body.Closed():
	default:
		t.Fatal("the underlying body was not closed")
	}
	assert.Zero(t, counting.reports.Load())
}

// A body whose Read fails, or that is closed during a Read, says nothing.
func TestKeyHealth_incompleteBodiesMarkNothing(t *testing.T) {
	t.Run("read error", func(t *testing.T) {
		r, counting, p := healthResolver(t)
		body := io.NopCloser(io.MultiReader(strings.NewReader(`{"error":{"code":"invalid_api_key"`), iotest.ErrReader(errors.New("connection reset"))))
		resp := roundTrip(t, p.Transport(givenBase{status: 401, body: body}), p)
		_, err := io.ReadAll(resp.Body)
		require.Error(t, err)
		require.NoError(t, resp.Body.Close())
		resolve.WaitKeyReports(r)
		assert.Zero(t, counting.reports.Load())
	})
	t.Run("closed during a read", func(t *testing.T) {
		r, counting, p := healthResolver(t)
		body := testkit.NewStallingBody(`{"error":{"code":"invalid_api_key"`)
		resp := roundTrip(t, p.Transport(givenBase{status: 401, body: body}), p)
		done := make(chan error)
		go func() {
			_, err := io.ReadAll(resp.Body)
			done <- err
		}()
		<-body.Blocked() // close while the reader waits for more: the read ends, nothing is classified
		require.NoError(t, resp.Body.Close())
		require.Error(t, <-done)
		resolve.WaitKeyReports(r)
		assert.Zero(t, counting.reports.Load())
	})
}

// An empty error body read to its end is an answer seen whole, as http.NoBody is: the
// status decides (OpenAI's 401 is an invalid key), whatever the body's type.
func TestKeyHealth_emptyBodiesAreClassifiedByStatus(t *testing.T) {
	for name, body := range map[string]io.ReadCloser{
		"NoBody":       http.NoBody,
		"empty reader": io.NopCloser(strings.NewReader("")),
	} {
		t.Run(name, func(t *testing.T) {
			r, counting, p := healthResolver(t)
			resp := roundTrip(t, p.Transport(givenBase{status: 401, body: body}), p)
			got, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Empty(t, got)
			require.NoError(t, resp.Body.Close())
			resolve.WaitKeyReports(r)
			assert.EqualValues(t, 1, counting.reports.Load(), "the key is marked")
		})
	}
}

// The Resolver that sees a breaking failure drops the user's cached results, even when
// the store write fails; a failed write is counted, and not retried within the minute.
func TestKeyHealth_dropsTheCacheEvenWhenTheWriteFails(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r, counting, p := healthResolver(t, resolve.WithCache(time.Hour), resolve.WithMeterProvider(mp))
	require.Equal(t, 1, resolve.CacheUsers(r))
	down := errors.New("store down")
	counting.reportErr.Store(&down)

	call(t, p, answering(t, 401, openAIInvalidKey))
	resolve.WaitKeyReports(r)
	assert.Zero(t, resolve.CacheUsers(r), "the user's entry is gone")
	assert.EqualValues(t, 1, counting.reports.Load())
	call(t, p, answering(t, 401, openAIInvalidKey))
	resolve.WaitKeyReports(r)
	assert.EqualValues(t, 1, counting.reports.Load(), "not retried within the minute")
	reports := sums(t, reader, resolve.MetricKeyReports)
	assert.Equal(t, int64(1), reports["outcome=error"])
	assert.Equal(t, int64(1), reports["outcome=throttled"])
}

// ReportOutcome does what the Transport does, for a Provider this Resolver resolved for
// that user, and ignores anything else.
func TestReportOutcome(t *testing.T) {
	t.Run("marks and drops the cache at once", func(t *testing.T) {
		r, counting, p := healthResolver(t, resolve.WithCache(time.Hour))
		body := []byte(openAIInvalidKey)
		r.ReportOutcome(t.Context(), user1, p, 401, body)
		assert.Zero(t, resolve.CacheUsers(r), "dropped before ReportOutcome returns")
		copy(body, strings.Repeat("x", len(body))) // the caller keeps body
		resolve.WaitKeyReports(r)
		assert.EqualValues(t, 1, counting.reports.Load())
		assert.Equal(t, providers.FailureInvalidKey, counting.KeyFailure(user1, providers.OpenAI))
		_, _, err := r.Resolve(t.Context(), user1)
		brokenErr(t, err)
	})
	ignored := map[string]func(t *testing.T, r *resolve.Resolver, p resolve.Provider){
		"another user": func(_ *testing.T, r *resolve.Resolver, p resolve.Provider) {
			r.ReportOutcome(context.Background(), user2, p, 401, []byte(openAIInvalidKey))
		},
		"a Provider built by hand": func(_ *testing.T, r *resolve.Resolver, p resolve.Provider) {
			hand := resolve.Provider{ID: p.ID, APIKey: p.APIKey, BaseURL: p.BaseURL}
			r.ReportOutcome(context.Background(), user1, hand, 401, []byte(openAIInvalidKey))
		},
		"another Resolver's Provider": func(t *testing.T, r *resolve.Resolver, _ resolve.Provider) {
			_, _, q := healthResolver(t)
			r.ReportOutcome(context.Background(), user1, q, 401, []byte(openAIInvalidKey))
		},
		"a 2xx": func(_ *testing.T, r *resolve.Resolver, p resolve.Provider) {
			r.ReportOutcome(context.Background(), user1, p, 200, []byte(openAIInvalidKey))
		},
		"a 5xx": func(_ *testing.T, r *resolve.Resolver, p resolve.Provider) {
			r.ReportOutcome(context.Background(), user1, p, 500, []byte(openAIInvalidKey))
		},
		"a rate limit": func(_ *testing.T, r *resolve.Resolver, p resolve.Provider) {
			r.ReportOutcome(context.Background(), user1, p, 429, []byte(openAIRateLimit))
		},
	}
	for name, report := range ignored {
		t.Run(name, func(t *testing.T) {
			r, counting, p := healthResolver(t, resolve.WithCache(time.Hour))
			report(t, r, p)
			resolve.WaitKeyReports(r)
			assert.Zero(t, counting.reports.Load())
			assert.Equal(t, 1, resolve.CacheUsers(r), "the cache is kept")
		})
	}
	t.Run("without WithKeyHealth", func(t *testing.T) {
		keys := resolvetest.NewKeys()
		keys.Put(user1, providers.OpenAI, "sk-user-o")
		r := resolve.New(keys, resolvetest.NewConsent(true), fullTeam)
		p, _, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		r.ReportOutcome(t.Context(), user1, p, 401, []byte(openAIInvalidKey))
		assert.Empty(t, keys.KeyFailure(user1, providers.OpenAI))
	})
}

// No key, and no user id, in what key health records or returns: the provider's
// answer echoes the key, the store's error too.
func TestKeyHealth_canary(t *testing.T) {
	const key = "sk-canary-health-3e9a71"
	sr, tracing := newTracing(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, key)
	keys.Put(user1, providers.Anthropic, key+"-ant")
	counting := &healthKeys{Keys: keys}
	r := resolve.New(counting, resolvetest.NewConsent(true), fullTeam, resolve.WithKeyHealth(), tracing, resolve.WithMeterProvider(mp), resolve.WithCache(time.Hour))
	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	echo := `{"error":{"message":"Incorrect API key provided: ` + key + `.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	status, body := call(t, p, answering(t, 401, echo))
	require.Equal(t, 401, status)
	require.Contains(t, string(body), key, "the caller gets the provider's answer as is")
	resolve.WaitKeyReports(r)

	var out bytes.Buffer
	_, _, err = r.Resolve(t.Context(), user1)
	re := brokenErr(t, err)
	fmt.Fprintf(&out, "%v|%+v|%#v|%s\n", err, err, re, err)
	b, _ := json.Marshal(re)
	out.Write(b)
	infos, err := keys.ListKeys(t.Context(), user1)
	require.NoError(t, err)
	fmt.Fprintf(&out, "%+v\n", infos)
	for _, s := range sr.Ended() {
		fmt.Fprintf(&out, "%s %v %v %v\n", s.Name(), s.Status(), s.Attributes(), s.Events())
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	b, err = json.Marshal(rm)
	require.NoError(t, err)
	out.Write(b)
	assert.Contains(t, out.String(), resolve.MetricKeyFailures, "the metrics were dumped")
	assert.Contains(t, out.String(), "key_broken", "the refusal was recorded")
	assertAbsent(t, out.String(), "canary")
	assertAbsent(t, out.String(), user1)
}
