package resolve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

func TestTelemetry_successSpan(t *testing.T) {
	tests := []struct {
		name  string
		setup func(k *resolvetest.Keys)
		team  resolve.Team
		opts  []resolve.CallOption
		want  map[string]any
	}{
		{"user gateway with user URL", func(k *resolvetest.Keys) {
			k.Put(user1, providers.Gateway, "u-gw")
			k.SetGatewayBaseURL(user1, "https://gw.example.com/v1")
		}, resolve.Team{}, nil, map[string]any{
			"path": "user-gateway", "provider": "gateway", "baseUrlHost": "gw.example.com", "baseUrlSource": "user",
		}},
		{"team gateway with team URL and model", func(*resolvetest.Keys) {}, teamGateway("t-gw", "https://gw.example.com/team"),
			[]resolve.CallOption{resolve.WithModel("grok-4")}, map[string]any{
				"path": "team-gateway", "provider": "gateway", "baseUrlHost": "gw.example.com", "baseUrlSource": "team",
				"model": "spacexai/grok-4",
			}},
		{"user provider", func(k *resolvetest.Keys) { k.Put(user1, providers.Anthropic, "u-an") }, resolve.Team{}, nil,
			map[string]any{"path": "user-provider", "provider": "anthropic", "baseUrlHost": "api.anthropic.com", "baseUrlSource": "default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := resolvetest.NewKeys()
			tt.setup(keys)
			sr, tracing := newTracing(t)
			r := resolve.New(keys, resolvetest.NewConsent(true), tt.team, tracing,
				resolve.WithAllowedGatewayHosts("gw.example.com"))
			_, _, err := r.Resolve(t.Context(), user1, tt.opts...)
			require.NoError(t, err)

			span := onlySpan(t, sr)
			assert.Equal(t, "providers.resolve", span.Name())
			assert.Equal(t, "github.com/byok-go/byok/resolve", span.InstrumentationScope().Name)
			assert.Equal(t, trace.SpanKindInternal, span.SpanKind())
			assert.NotEqual(t, codes.Error, span.Status().Code)
			assert.Equal(t, tt.want, spanAttrs(span), "exactly these attributes (no cache.hit without a cache)")
		})
	}
}

func TestTelemetry_errorSpan(t *testing.T) {
	consent := resolvetest.NewConsent(false)
	sr, tracing := newTracing(t)
	r := resolve.New(resolvetest.NewKeys(), consent, teamGateway("t-gw", ""), tracing)
	_, _, err := r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrFallbackDisabled)

	span := onlySpan(t, sr)
	assert.Equal(t, codes.Error, span.Status().Code)
	assert.Equal(t, err.Error(), span.Status().Description)
	assert.Equal(t, map[string]any{"error.type": "fallback_disabled"}, spanAttrs(span))
}

func TestTelemetry_parentSpanFromContext(t *testing.T) {
	sr, tracing := newTracing(t)
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "u-oa")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, tracing)

	parentSC := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(t.Context(), parentSC)
	_, _, err := r.Resolve(ctx, user1)
	require.NoError(t, err)
	span := onlySpan(t, sr)
	assert.Equal(t, parentSC.TraceID(), span.SpanContext().TraceID())
	assert.Equal(t, parentSC.SpanID(), span.Parent().SpanID())
}

// TestCanary plants a key and looks for it in every output of the resolve path:
// errors, spans, fmt verbs, JSON and slog renderings of Provider and Secret.
func TestCanary(t *testing.T) {
	const key = "sk-canary-9e4d1f7a2b3c"
	const planted = "https://sk-canary-9e4d1f7a2b3c@10.0.0.1/v1" // URL carrying the key
	var out bytes.Buffer
	sr, tracing := newTracing(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	metering := resolve.WithMeterProvider(mp)

	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, key)
	keys.Put(user2, providers.Gateway, key)
	keys.SetGatewayBaseURL(user2, planted)
	failing := resolvetest.NewKeys()
	failing.FailWith(fmt.Errorf("db said: %s", key))

	// The team URL is configuration, not a secret, so it is printed below; it is unsafe
	// (private host) so that the resolver's rejection path runs.
	team := resolve.Team{GatewayKey: secret(key), GatewayURL: "https://10.1.2.3/v1"}
	rs := []*resolve.Resolver{
		resolve.New(keys, resolvetest.NewConsent(true), team, tracing, metering, resolve.WithCache(time.Minute)),
		resolve.New(failing, resolvetest.NewConsent(true), team, tracing, metering),
		resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), team, tracing, metering),
		resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(false), team, tracing, metering),
	}

	var provs []resolve.Provider
	for _, r := range rs {
		for _, u := range []string{user1, user2, "u3"} {
			for _, opts := range [][]resolve.CallOption{nil, {resolve.WithModel("gpt-4o")}} {
				p, path, err := r.Resolve(t.Context(), u, opts...)
				if err != nil {
					fmt.Fprintf(&out, "%v|%+v|%#v|%s|%q\n", err, err, err, err, err)
					b, _ := json.Marshal(err)
					out.Write(b)
				}
				fmt.Fprintln(&out, path)
				provs = append(provs, p)
			}
		}
	}
	require.NotEmpty(t, provs)
	require.Equal(t, key, provs[0].APIKey.Reveal(), "the canary was resolved, so its absence below means something")

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		fmt.Fprintf(&out, verb+"\n", provs)
		fmt.Fprintf(&out, verb+"\n", provs[0])
		fmt.Fprintf(&out, verb+"\n", provs[0].APIKey)
		fmt.Fprintf(&out, verb+"\n", team)
	}
	b, err := json.Marshal(provs)
	require.NoError(t, err)
	out.Write(b)
	b, err = json.Marshal(team)
	require.NoError(t, err)
	out.Write(b)
	for _, h := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
		slog.New(h).Info("resolved", "provider", provs[0], "key", provs[0].APIKey, "team", team, "all", provs)
	}
	for _, s := range sr.Ended() {
		fmt.Fprintf(&out, "%s %v %v %v\n", s.Name(), s.Status(), s.Attributes(), s.Events())
	}
	require.NotEmpty(t, sr.Ended())
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	require.NotEmpty(t, rm.ScopeMetrics)
	b, err = json.Marshal(rm)
	require.NoError(t, err)
	out.Write(b)
	fmt.Fprintf(&out, "%+v\n", rm)

	assertAbsent(t, out.String(), "canary")
	assertAbsent(t, out.String(), user1) // spans and errors carry no user id
	assert.Contains(t, out.String(), "[REDACTED]")
	assert.Contains(t, out.String(), "base_url_rejected", "the rejection paths ran")
	assert.Contains(t, out.String(), "store_unavailable", "the failing-store path ran")
	assert.Contains(t, out.String(), resolve.MetricResolutions, "the metrics were dumped")
}

// assertAbsent fails if needle occurs in haystack, quoting only the surroundings.
func assertAbsent(t *testing.T, haystack, needle string) {
	t.Helper()
	if i := strings.Index(haystack, needle); i >= 0 {
		t.Errorf("%q found: ...%s...", needle, haystack[max(0, i-80):min(len(haystack), i+80)])
	}
}

// Without WithTracerProvider, spans go to the global provider, including one installed
// after New (the global provider delegates).
func TestTelemetry_defaultsToGlobalProvider(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "u-oa")

	// The global provider is set before New: OpenTelemetry's first global provider
	// delegates once and for all, so a Resolver made earlier would keep an earlier
	// run's provider when the test is repeated (-count).
	sr := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{})

	_, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	span := onlySpan(t, sr)
	assert.Equal(t, "providers.resolve", span.Name())
	assert.Equal(t, "user-provider", spanAttrs(span)["path"])
}
