package resolve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

const (
	teamGatewayCanary = "vck-team-canary-5e0c2a91"
	byokCanary        = "sk-ant-byok-canary-7d3f1b62"
)

// sentRequest is what bodyBase received.
type sentRequest struct {
	method, url   string
	header        http.Header
	body          []byte
	contentLength int64
	getBody       []byte // what the request's GetBody gave; nil without GetBody
}

// bodyBase is a RoundTripper that reads and keeps each request's body and what its
// GetBody returns, and answers 200.
type bodyBase struct {
	mu   sync.Mutex
	sent []sentRequest // guarded by mu
}

func (b *bodyBase) RoundTrip(req *http.Request) (*http.Response, error) {
	s := sentRequest{method: req.Method, url: req.URL.String(), header: req.Header.Clone(), contentLength: req.ContentLength}
	if req.Body != nil {
		s.body, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err == nil {
			s.getBody, _ = io.ReadAll(rc)
		}
	}
	b.mu.Lock()
	b.sent = append(b.sent, s)
	b.mu.Unlock()
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Request: req, Header: http.Header{}}, nil
}

func (b *bodyBase) requests() []sentRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]sentRequest(nil), b.sent...)
}

func (b *bodyBase) last(t *testing.T) sentRequest {
	t.Helper()
	s := b.requests()
	require.NotEmpty(t, s, "base was called")
	return s[len(s)-1]
}

// teamGatewayProvider resolves a user without keys on the team gateway of a Resolver
// with the given options.
func teamGatewayProvider(t *testing.T, opts []resolve.Option, call ...resolve.CallOption) resolve.Provider {
	t.Helper()
	r := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), resolve.Team{GatewayKey: secret(teamGatewayCanary)}, opts...)
	p, path, err := r.Resolve(t.Context(), user1, call...)
	require.NoError(t, err)
	require.Equal(t, resolve.TeamGateway, path)
	return p
}

// send posts body with contentType through p's Transport over base.
func send(t *testing.T, p resolve.Provider, base http.RoundTripper, method, contentType, body string) (*http.Request, error) {
	t.Helper()
	var rd io.Reader
	if body != "" || method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.BaseURL+"/chat/completions", rd)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := p.Transport(base).RoundTrip(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	return req, err
}

var defaults = gateway.Options{
	Order:             []string{"Bedrock", "anthropic"},
	Models:            []string{"claude-sonnet-4-5", "gpt-4o", "x-ai/grok-4.3"},
	User:              "end-user-7",
	Tags:              []string{"app:chat"},
	ZeroDataRetention: true,
}

func TestGatewayOptions_bodyMerge(t *testing.T) {
	// A body as an SDK writes it, with numbers a float64 round trip would change and a
	// key order a map would lose.
	const sdkBody = `{"model":"anthropic/claude-sonnet-4.5","messages":[{"role":"user","content":"hi \u00e9 \"q\""}],` +
		`"temperature":0.70000000000000001,"seed":12345678901234567890,"stream":true,"n":1e2}`
	tests := []struct {
		name string
		opts []resolve.Option
		call []resolve.CallOption
		body string
		want string
	}{
		{"defaults, body without providerOptions", []resolve.Option{resolve.WithDefaultGatewayOptions(defaults)}, nil, sdkBody,
			sdkBody[:len(sdkBody)-1] + `,"providerOptions":{"gateway":{"order":["bedrock","anthropic"],` +
				`"models":["anthropic/claude-sonnet-4.5","openai/gpt-4o","spacexai/grok-4.3"],"user":"end-user-7","tags":["app:chat"],"zeroDataRetention":true}}}`},
		{"call options over defaults", []resolve.Option{resolve.WithDefaultGatewayOptions(defaults)},
			[]resolve.CallOption{resolve.WithGatewayOptions(gateway.Options{
				Order: []string{"vertex"}, Only: []string{"vertex", "anthropic"}, User: "end-user-8", Tags: []string{"feature:summary", "app:chat"},
				DisallowPromptTraining: true,
			})},
			`{"model":"m"}`,
			`{"model":"m","providerOptions":{"gateway":{"order":["vertex"],"only":["vertex","anthropic"],` +
				`"models":["anthropic/claude-sonnet-4.5","openai/gpt-4o","spacexai/grok-4.3"],"user":"end-user-8","tags":["app:chat","feature:summary"],` +
				`"zeroDataRetention":true,"disallowPromptTraining":true}}}`},
		{"call options without defaults; fallbacks mapped with the model rules", []resolve.Option{resolve.WithVendorSlug(providers.Gateway, "xai", "xai")},
			[]resolve.CallOption{resolve.WithGatewayOptions(gateway.Options{Models: []string{"grok-4.3", "claude-opus-4-5-20251101", "mystery-1"}})},
			`{"model":"m"}`,
			`{"model":"m","providerOptions":{"gateway":{"models":["xai/grok-4.3","anthropic/claude-opus-4.5-20251101","mystery-1"]}}}`},
		{"caller-set fields win and the rest of providerOptions is kept", []resolve.Option{resolve.WithDefaultGatewayOptions(defaults)}, nil,
			`{ "providerOptions" : { "anthropic" : {"thinking":{"type":"enabled","budgetTokens":1024}},` +
				` "gateway" : { "order" : ["vertex"], "caching":"auto", "user":null } } , "model":"m" }`,
			`{ "providerOptions" : { "anthropic" : {"thinking":{"type":"enabled","budgetTokens":1024}},` +
				` "gateway" : { "order" : ["vertex"], "caching":"auto", "user":null,"models":["anthropic/claude-sonnet-4.5","openai/gpt-4o","spacexai/grok-4.3"],` +
				`"tags":["app:chat"],"zeroDataRetention":true } } , "model":"m" }`},
		{"empty providerOptions and gateway objects", []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{User: "u"})}, nil,
			`{"providerOptions":{"gateway":{}}}`, `{"providerOptions":{"gateway":{"user":"u"}}}`},
		{"null providerOptions", []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{User: "u"})}, nil,
			`{"providerOptions":null}`, `{"providerOptions":{"gateway":{"user":"u"}}}`},
		{"null gateway", []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{User: "u"})}, nil,
			`{"providerOptions":{"openai":{}, "gateway":null}}`, `{"providerOptions":{"openai":{}, "gateway":{"user":"u"}}}`},
		{"empty body object", []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{User: "u"})}, nil,
			"{\n}", `{"providerOptions":{"gateway":{"user":"u"}}` + "\n}"},
		{"escaped member name is the same member", []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{User: "u", Tags: []string{"t"}})}, nil,
			`{"provider\u004fptions":{"gate\u0077ay":{"\u0075ser":"mine"}}}`, `{"provider\u004fptions":{"gate\u0077ay":{"\u0075ser":"mine","tags":["t"]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := teamGatewayProvider(t, tt.opts, tt.call...)
			base := &bodyBase{}
			_, err := send(t, p, base, http.MethodPost, "application/json; charset=utf-8", tt.body)
			require.NoError(t, err)
			got := base.last(t)
			assert.Equal(t, tt.want, string(got.body))
			assert.True(t, json.Valid(got.body))
			assert.Equal(t, int64(len(got.body)), got.contentLength, "ContentLength matches the body sent")
			assert.Equal(t, tt.want, string(got.getBody), "GetBody gives the rewritten body")
			assert.Equal(t, "Bearer "+teamGatewayCanary, got.header.Get("Authorization"))
		})
	}
}

// The accessor shows the effective options; changing its result changes nothing.
func TestGatewayOptions_accessor(t *testing.T) {
	p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(defaults)},
		resolve.WithGatewayOptions(gateway.Options{Tags: []string{"x"}}))
	got := p.GatewayOptions()
	assert.Equal(t, gateway.Options{
		Order:             []string{"bedrock", "anthropic"},
		Models:            []string{"anthropic/claude-sonnet-4.5", "openai/gpt-4o", "spacexai/grok-4.3"},
		User:              "end-user-7",
		Tags:              []string{"app:chat", "x"},
		ZeroDataRetention: true,
	}, got)
	got.Order[0] = "changed"
	assert.Equal(t, "bedrock", p.GatewayOptions().Order[0])
	_, byok := p.GatewayBYOK()
	assert.False(t, byok)
}

// Vendor paths carry no options, and their requests pass through untouched.
func TestGatewayOptions_vendorPathsCarryNone(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "sk-user")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{GatewayKey: secret("vck-team")},
		resolve.WithDefaultGatewayOptions(defaults))
	p, path, err := r.Resolve(t.Context(), user1, resolve.WithGatewayOptions(gateway.Options{User: "u"}))
	require.NoError(t, err)
	require.Equal(t, resolve.UserProvider, path)
	assert.Zero(t, p.GatewayOptions())
	base := &bodyBase{}
	_, err = send(t, p, base, http.MethodPost, "application/json", `{"model":"gpt-4o"}`)
	require.NoError(t, err)
	assert.Equal(t, `{"model":"gpt-4o"}`, string(base.last(t).body))

	// A gateway Provider built by hand carries nothing either.
	hand := resolve.Provider{ID: providers.Gateway, APIKey: secret("vck"), BaseURL: "https://ai-gateway.vercel.sh/v1"}
	_, err = send(t, hand, base, http.MethodPost, "application/json", `{"model":"m"}`)
	require.NoError(t, err)
	assert.Equal(t, `{"model":"m"}`, string(base.last(t).body))
}

func TestGatewayOptions_passThrough(t *testing.T) {
	noCompliance := defaults
	noCompliance.ZeroDataRetention = false
	p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(noCompliance)})
	compliant := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(defaults)})
	for _, c := range []struct {
		method, contentType, body string
		underCompliance           string // the BodyError reason with compliance options, "" when it passes
	}{
		{http.MethodGet, "", "", ""},
		{http.MethodGet, "application/json", "", ""},
		{http.MethodPost, "text/plain", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPost, "", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPost, "multipart/form-data; boundary=x", "--x\r\n\r\n--x--", gateway.ReasonNotJSON},
		{http.MethodPost, "application/vnd.api+json", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPut, "application/json", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPatch, "application/json", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPost, "application/json", "", gateway.ReasonEmptyBody},
	} {
		base := &bodyBase{}
		_, err := send(t, p, base, c.method, c.contentType, c.body)
		require.NoError(t, err, c)
		got := base.last(t)
		assert.Equal(t, c.body, string(got.body), c)
		assert.Equal(t, c.method, got.method)

		// Under compliance options, a request with a body that cannot carry them is refused:
		// it would be routed without the operator's policy.
		base = &bodyBase{}
		_, err = send(t, compliant, base, c.method, c.contentType, c.body)
		if c.underCompliance == "" {
			require.NoError(t, err, c)
			assert.Len(t, base.requests(), 1, c)
			continue
		}
		var be *gateway.BodyError
		require.ErrorAs(t, err, &be, c)
		assert.Equal(t, c.underCompliance, be.Reason, c)
		assert.Empty(t, base.requests(), "nothing sent: %v", c)
	}
}

// The caller's request is never changed: not its headers, its body, its length or its
// GetBody.
func TestGatewayOptions_neverChangesTheCallersRequest(t *testing.T) {
	p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(defaults)})
	const body = `{"model":"m"}`
	req, err := http.NewRequest(http.MethodPost, p.BaseURL+"/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	wantHeader := req.Header.Clone()
	origBody, origLen := req.Body, req.ContentLength

	base := &bodyBase{}
	resp, err := p.Transport(base).RoundTrip(req)
	require.NoError(t, err)
	_ = resp.Body.Close()

	assert.True(t, origBody == req.Body, "the caller's Body is not replaced")
	assert.Equal(t, origLen, req.ContentLength)
	assert.Equal(t, wantHeader, req.Header)
	rc, err := req.GetBody()
	require.NoError(t, err)
	again, _ := io.ReadAll(rc)
	assert.Equal(t, body, string(again), "the caller's GetBody still gives the caller's body")
	assert.NotEqual(t, body, string(base.last(t).body), "the copy was rewritten")
}

// A body the options cannot be merged into is refused before anything is sent.
func TestGatewayOptions_refusesWhatItCannotMerge(t *testing.T) {
	big := `{"model":"m","pad":"` + strings.Repeat("a", gateway.MaxBodyBytes) + `"}`
	cases := map[string]struct {
		body, reason string
		header       map[string]string
	}{
		"array":                       {`[{"model":"m"}]`, "not_object", nil},
		"string":                      {`"text"`, "not_object", nil},
		"invalid JSON":                {`{"model":"m",}`, "invalid_json", nil},
		"truncated":                   {`{"model":"m"`, "invalid_json", nil},
		"providerOptions not object":  {`{"providerOptions":"x"}`, "provider_options_not_object", nil},
		"providerOptions array":       {`{"providerOptions":[]}`, "provider_options_not_object", nil},
		"gateway not object":          {`{"providerOptions":{"gateway":true}}`, "gateway_not_object", nil},
		"providerOptions twice":       {`{"providerOptions":{},"providerOptions":{}}`, "duplicate_key", nil},
		"providerOptions escaped dup": {`{"providerOptions":{},"provider\u004Fptions":{}}`, "duplicate_key", nil},
		"gateway twice":               {`{"providerOptions":{"gateway":{},"gateway":{}}}`, "duplicate_key", nil},
		"too large":                   {big, "too_large", nil},
		"compressed":                  {`{"model":"m"}`, "content_encoding", map[string]string{"Content-Encoding": "gzip"}},
	}
	p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(defaults)})
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			body := &trackedBody{Reader: strings.NewReader(c.body)}
			req, err := http.NewRequest(http.MethodPost, p.BaseURL+"/chat/completions", body)
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			base := &bodyBase{}
			resp, err := p.Transport(base).RoundTrip(req)
			assert.Nil(t, resp)
			require.ErrorIs(t, err, gateway.ErrBody)
			var be *gateway.BodyError
			require.ErrorAs(t, err, &be)
			assert.Equal(t, c.reason, be.Reason)
			assert.Empty(t, base.requests(), "nothing was sent")
			assert.True(t, body.closed.Load(), "the body is closed")
			assert.NotContains(t, err.Error(), teamGatewayCanary)
		})
	}

	// Unknown length: the bound applies while reading.
	req, err := http.NewRequest(http.MethodPost, p.BaseURL+"/chat/completions", io.MultiReader(strings.NewReader(big)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	_, err = p.Transport(&bodyBase{}).RoundTrip(req)
	var be *gateway.BodyError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "too_large", be.Reason)

	// A body that fails to read: the cause is reachable, never printed.
	req, err = http.NewRequest(http.MethodPost, p.BaseURL+"/chat/completions", io.NopCloser(failingReader{}))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	_, err = p.Transport(&bodyBase{}).RoundTrip(req)
	require.ErrorIs(t, err, errCanary)
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "read_failed", be.Reason)
	assert.NotContains(t, err.Error(), canaryCause)
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errCanary }

// Through a real client and server: a redirect resends the merged body once (not merged
// twice), and a streaming response streams.
func TestGatewayOptions_redirectAndStream(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.URL.Path+" "+string(b))
		mu.Unlock()
		if r.URL.Path == "/v1/old" {
			http.Redirect(w, r, "/v1/chat/completions", http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			_, _ = fmt.Fprintf(w, "data: {\"i\":%d}\n\n", i)
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{Tags: []string{"t"}})})
	client := resolve.HTTPClientOver(p, resolvetest.NewUpstream(srv))

	req, err := http.NewRequest(http.MethodPost, p.BaseURL+"/old", strings.NewReader(`{"model":"m","stream":true}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	require.NoError(t, err)
	stream, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "data: {\"i\":0}\n\ndata: {\"i\":1}\n\ndata: {\"i\":2}\n\ndata: [DONE]\n\n", string(stream))

	const merged = `{"model":"m","stream":true,"providerOptions":{"gateway":{"tags":["t"]}}}`
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"/v1/old " + merged, "/v1/chat/completions " + merged}, bodies)
}

func TestGatewayOptions_invalid(t *testing.T) {
	many := func(n int, f string) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf(f, i)
		}
		return s
	}
	bad := map[string]gateway.Options{
		"slug with a space":     {Order: []string{"amazon bedrock"}},
		"slug with a slash":     {Only: []string{"anthropic/claude"}},
		"empty slug":            {Only: []string{""}},
		"slug too long":         {Order: []string{strings.Repeat("a", 65)}},
		"slug twice":            {Order: []string{"vertex", "Vertex"}},
		"too many slugs":        {Only: many(33, "p%d")},
		"malformed model":       {Models: []string{"anthropic/"}},
		"model with a space":    {Models: []string{"gpt 4o"}},
		"model twice":           {Models: []string{"claude-sonnet-4.5", "anthropic/claude-sonnet-4-5"}},
		"too many models":       {Models: many(17, "model-%d")},
		"user too long":         {User: strings.Repeat("u", 257)},
		"user control char":     {User: "a\nb"},
		"user bad UTF-8":        {User: "a\xffb"},
		"empty tag":             {Tags: []string{" "}},
		"tag too long":          {Tags: []string{strings.Repeat("t", 129)}},
		"too many tags":         {Tags: many(33, "t%d")},
		"key pasted as a slug":  {Order: []string{"Bearer " + canaryCause}},
		"key pasted as a model": {Models: []string{"sk ant " + canaryCause}},
		"unknown sort":          {Sort: "fast"},
		"unknown service tier":  {ServiceTier: "standard"},
		"unknown caching":       {Caching: "on"},
		"not a country":         {Headquarters: []string{"UK"}},
		"alpha-3 country":       {Headquarters: []string{"USA"}},
		"empty country":         {Headquarters: []string{""}},
		"bare exclusion":        {Headquarters: []string{"!"}},
		"country twice":         {Headquarters: []string{"US", "us"}},
		"countries mixed":       {Headquarters: []string{"US", "!CN"}},
		"too many countries":    {Headquarters: append(countries65[:0:0], countries65...)},
		"key pasted as country": {Headquarters: []string{canaryCause}},
		"unknown capability":    {Has: []string{"streaming"}},
		"empty capability":      {Has: []string{""}},
		"empty format":          {Has: []string{"quantization:"}},
		"format with a space":   {Has: []string{"quantization:fp 8"}},
		"format too long":       {Has: []string{"!quantization:" + strings.Repeat("f", 33)}},
		"format both ways":      {Has: []string{"quantization:fp8", "!Quantization:FP8"}},
		"too many has":          {Has: append(many(16, "quantization:q%d"), "vision")},
		"zero timeout":          {BYOKTimeouts: map[string]time.Duration{"openai": 0}},
		"negative timeout":      {BYOKTimeouts: map[string]time.Duration{"openai": -time.Second}},
		"sub-ms timeout":        {BYOKTimeouts: map[string]time.Duration{"openai": 1500 * time.Microsecond}},
		"timeout too long":      {BYOKTimeouts: map[string]time.Duration{"openai": 10*time.Minute + time.Millisecond}},
		"timeout bad slug":      {BYOKTimeouts: map[string]time.Duration{"open ai": time.Second}},
		"timeout slug twice":    {BYOKTimeouts: map[string]time.Duration{"openai": time.Second, "OpenAI": time.Second}},
		"too many timeouts":     {BYOKTimeouts: timeouts(33)},
		"quota entity too long": {QuotaEntityID: strings.Repeat("q", 257)},
	}
	for name, o := range bad {
		t.Run(name, func(t *testing.T) {
			// Per call: the call fails before any store is called.
			keys := resolvetest.NewKeys()
			sr, tracing := newTracing(t)
			r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{GatewayKey: secret("vck")}, tracing)
			_, _, err := r.Resolve(t.Context(), user1, resolve.WithGatewayOptions(o))
			require.ErrorIs(t, err, gateway.ErrInvalidOptions)
			assert.Zero(t, keys.Calls(), "no store call")
			var re *resolve.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "invalid_gateway_options", re.Code())
			assert.NotContains(t, err.Error(), canaryCause)
			assert.NotContains(t, onlySpan(t, sr).Status().Description, canaryCause)

			// As defaults: the Resolver is invalid.
			r = resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{GatewayKey: secret("vck")}, resolve.WithDefaultGatewayOptions(o))
			_, _, err = r.Resolve(t.Context(), user1)
			require.ErrorIs(t, err, resolve.ErrInvalidConfig)
			require.ErrorIs(t, err, gateway.ErrInvalidOptions)
			assert.NotContains(t, err.Error(), canaryCause)
		})
	}
	// The bounds themselves are accepted.
	ok := gateway.Options{
		Order: many(32, "p%d"), Only: []string{strings.Repeat("a", 64), "a.b_c-d"}, Models: many(16, "model-%d"),
		User: strings.Repeat("ü", 128), Tags: many(32, "tag %d"), Headquarters: countries65[:64],
		Has:          append(many(11, "quantization:q%d"), "implicit-caching", "reasoning", "structured-output", "tool-use", "!quantization:"+strings.Repeat("f", 32)),
		BYOKTimeouts: timeouts(32), QuotaEntityID: strings.Repeat("q", 256),
	}
	ok.BYOKTimeouts["p0"], ok.BYOKTimeouts["p1"] = time.Millisecond, 10*time.Minute
	r := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), resolve.Team{GatewayKey: secret("vck")}, resolve.WithDefaultGatewayOptions(ok))
	p, _, err := r.Resolve(t.Context(), user1, resolve.WithGatewayOptions(ok))
	require.NoError(t, err)
	assert.Len(t, p.GatewayOptions().Models, 16)
	assert.Len(t, p.GatewayOptions().Tags, 32, "the same tags twice are one set")
	assert.Len(t, p.GatewayOptions().Has, 16, "the same conditions twice are one set")
	assert.Len(t, p.GatewayOptions().Headquarters, 64)
	assert.Len(t, p.GatewayOptions().BYOKTimeouts, 32)
}

// countries65 are 65 assigned ISO 3166-1 alpha-2 codes.
var countries65 = strings.Fields(`AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM
	BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG`)

// timeouts returns n BYOK timeouts of a second, for slugs p0, p1, ...
func timeouts(n int) map[string]time.Duration {
	m := map[string]time.Duration{}
	for i := range n {
		m[fmt.Sprintf("p%d", i)] = time.Second
	}
	return m
}

// byokSetup is a Resolver with WithGatewayBYOK over fakes: the user's keys, consent and
// a team gateway.
type byokSetup struct {
	keys    *resolvetest.Keys
	consent *resolvetest.Consent
	r       *resolve.Resolver
}

func newBYOK(t *testing.T, team resolve.Team, opts ...resolve.Option) *byokSetup {
	t.Helper()
	s := &byokSetup{keys: resolvetest.NewKeys(), consent: resolvetest.NewConsent(true)}
	s.r = resolve.New(s.keys, s.consent, team, append([]resolve.Option{resolve.WithGatewayBYOK()}, opts...)...)
	return s
}

func TestGatewayBYOK_consentOn(t *testing.T) {
	for _, c := range []struct {
		id         providers.ID
		hint, slug string
		model      string
	}{
		{providers.OpenAI, "gpt-4o", "openai", "openai/gpt-4o"},
		{providers.Anthropic, "claude-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4.5"},
		{providers.XAI, "grok-4.3", "spacexai", "spacexai/grok-4.3"},
	} {
		t.Run(string(c.id), func(t *testing.T) {
			s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)})
			s.keys.Put(user1, c.id, byokCanary)
			p, path, err := s.r.Resolve(t.Context(), user1, resolve.WithModel(c.hint))
			require.NoError(t, err)
			assert.Equal(t, resolve.GatewayBYOK, path)
			assert.Equal(t, providers.Gateway, p.ID)
			assert.Equal(t, "https://ai-gateway.vercel.sh/v1", p.BaseURL)
			assert.Equal(t, c.model, p.Model)
			slug, ok := p.GatewayBYOK()
			assert.True(t, ok)
			assert.Equal(t, c.slug, slug)

			base := &bodyBase{}
			_, err = send(t, p, base, http.MethodPost, "application/json", `{"model":"`+p.Model+`"}`)
			require.NoError(t, err)
			got := base.last(t)
			assert.Equal(t, `{"model":"`+c.model+`","providerOptions":{"gateway":{"byok":{"`+c.slug+`":[{"apiKey":"`+byokCanary+`"}]}}}}`, string(got.body))
			assert.Equal(t, "Bearer "+teamGatewayCanary, got.header.Get("Authorization"), "the team key authenticates")
			assert.NotContains(t, fmt.Sprint(got.header), byokCanary, "the user's key is in no header")
			assert.NotContains(t, got.url, byokCanary)

			// A GET (the models list) carries no body, so no key.
			_, err = send(t, p, base, http.MethodGet, "", "")
			require.NoError(t, err)
			assert.Empty(t, base.last(t).body)
		})
	}
}

func TestGatewayBYOK_otherwiseUserProvider(t *testing.T) {
	const body = `{"model":"m","providerOptions":{"gateway":{}}}`
	check := func(t *testing.T, s *byokSetup, id providers.ID) {
		t.Helper()
		p, path, err := s.r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		assert.Equal(t, resolve.UserProvider, path)
		assert.Equal(t, id, p.ID)
		assert.Equal(t, byokCanary, p.APIKey.Reveal())
		_, ok := p.GatewayBYOK()
		assert.False(t, ok)
		base := &bodyBase{}
		_, err = send(t, p, base, http.MethodPost, "application/json", body)
		require.NoError(t, err)
		assert.Equal(t, body, string(base.last(t).body), "no body change")
	}
	t.Run("consent off", func(t *testing.T) {
		s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)})
		s.keys.Put(user1, providers.Anthropic, byokCanary)
		s.consent.Set(user1, false)
		check(t, s, providers.Anthropic)
	})
	t.Run("no team gateway", func(t *testing.T) {
		s := newBYOK(t, resolve.Team{ServerKeys: map[providers.ID]providers.Secret{providers.OpenAI: secret("sk-server")}})
		s.keys.Put(user1, providers.Anthropic, byokCanary)
		check(t, s, providers.Anthropic)
		assert.Zero(t, s.consent.Calls(), "consent is not read without a team gateway")
	})
	t.Run("openrouter has no gateway BYOK slug", func(t *testing.T) {
		s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)})
		s.keys.Put(user1, providers.OpenRouter, byokCanary)
		check(t, s, providers.OpenRouter)
		assert.Zero(t, s.consent.Calls())
	})
	t.Run("without WithGatewayBYOK", func(t *testing.T) {
		s := &byokSetup{keys: resolvetest.NewKeys(), consent: resolvetest.NewConsent(true)}
		s.r = resolve.New(s.keys, s.consent, resolve.Team{GatewayKey: secret(teamGatewayCanary)})
		s.keys.Put(user1, providers.OpenAI, byokCanary)
		check(t, s, providers.OpenAI)
	})

	// The user's own gateway key comes first.
	s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)})
	s.keys.Put(user1, providers.Gateway, "vck-user")
	s.keys.Put(user1, providers.Anthropic, byokCanary)
	p, path, err := s.r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserGateway, path)
	assert.Equal(t, "vck-user", p.APIKey.Reveal())
	_, ok := p.GatewayBYOK()
	assert.False(t, ok)

	// An override enables OpenRouter, and renames a slug.
	s = newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)},
		resolve.WithGatewayProviderSlug(providers.OpenRouter, "OpenRouter"), resolve.WithGatewayProviderSlug(providers.XAI, "xai"))
	s.keys.Put(user1, providers.OpenRouter, byokCanary)
	s.keys.Put(user2, providers.XAI, byokCanary)
	for user, want := range map[string]string{user1: "openrouter", user2: "xai"} {
		p, path, err = s.r.Resolve(t.Context(), user)
		require.NoError(t, err)
		assert.Equal(t, resolve.GatewayBYOK, path)
		slug, _ := p.GatewayBYOK()
		assert.Equal(t, want, slug)
	}
	for _, bad := range []resolve.Option{
		resolve.WithGatewayProviderSlug(providers.Gateway, "gateway"),
		resolve.WithGatewayProviderSlug("mistral", "mistral"),
		resolve.WithGatewayProviderSlug(providers.OpenAI, "open ai"),
	} {
		_, _, err := resolve.New(s.keys, s.consent, resolve.Team{}, bad).Resolve(t.Context(), user1)
		require.ErrorIs(t, err, resolve.ErrInvalidConfig)
	}
}

// The caller's byok wins slug by slug; the options ride along; the team's gateway URL
// is used, and an unsafe one stops resolution.
func TestGatewayBYOK_bodyAndURL(t *testing.T) {
	s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary), GatewayURL: "https://gw.example.com/v1"},
		resolve.WithAllowedGatewayHosts("gw.example.com"), resolve.WithDefaultGatewayOptions(gateway.Options{Order: []string{"anthropic"}}))
	s.keys.Put(user1, providers.Anthropic, byokCanary)
	p, path, err := s.r.Resolve(t.Context(), user1, resolve.WithGatewayOptions(gateway.Options{User: "u"}))
	require.NoError(t, err)
	require.Equal(t, resolve.GatewayBYOK, path)
	assert.Equal(t, "https://gw.example.com/v1", p.BaseURL)
	assert.Equal(t, resolve.SourceTeam, p.BaseURLSource)

	for _, c := range []struct{ body, want string }{
		{`{"model":"m"}`, `{"model":"m","providerOptions":{"gateway":{"order":["anthropic"],"user":"u","byok":{"anthropic":[{"apiKey":"` + byokCanary + `"}]}}}}`},
		{`{"providerOptions":{"gateway":{"byok":{"bedrock":[{"accessKeyId":"a"}]},"order":[]}}}`,
			`{"providerOptions":{"gateway":{"byok":{"bedrock":[{"accessKeyId":"a"}],"anthropic":[{"apiKey":"` + byokCanary + `"}]},"order":[],"user":"u"}}}`},
		{`{"providerOptions":{"gateway":{"byok":{"anthropic":[{"apiKey":"callers-own"}]}}}}`,
			`{"providerOptions":{"gateway":{"byok":{"anthropic":[{"apiKey":"callers-own"}]},"order":["anthropic"],"user":"u"}}}`},
		{`{"providerOptions":{"gateway":{"byok":{}}}}`,
			`{"providerOptions":{"gateway":{"byok":{"anthropic":[{"apiKey":"` + byokCanary + `"}]},"order":["anthropic"],"user":"u"}}}`},
	} {
		base := &bodyBase{}
		_, err = send(t, p, base, http.MethodPost, "application/json", c.body)
		require.NoError(t, err)
		assert.Equal(t, c.want, string(base.last(t).body))
	}
	base := &bodyBase{}
	_, err = send(t, p, base, http.MethodPost, "application/json", `{"providerOptions":{"gateway":{"byok":{"anthropic":[],"anthropic":[]}}}}`)
	require.ErrorIs(t, err, gateway.ErrBody)

	bad := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary), GatewayURL: "https://169.254.169.254/v1"})
	bad.keys.Put(user1, providers.Anthropic, byokCanary)
	_, _, err = bad.r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrBaseURLRejected)
	var re *resolve.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, resolve.StepGatewayBYOK, re.Step)
}

// Stores that fail stop resolution, as everywhere: no quiet switch of path.
func TestGatewayBYOK_failsClosed(t *testing.T) {
	st := &scripted{keys: map[providers.ID]string{providers.Anthropic: byokCanary}, teamErr: errCanary, consent: true}
	r := resolve.New(st, st, st, resolve.WithGatewayBYOK())
	_, _, err := r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
	var re *resolve.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, resolve.StepGatewayBYOK, re.Step)
	assert.NotContains(t, err.Error(), canaryCause)

	st = &scripted{keys: map[providers.ID]string{providers.Anthropic: byokCanary}, teamKey: "vck-team", consentErr: errCanary}
	r = resolve.New(st, st, st, resolve.WithGatewayBYOK())
	_, _, err = r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, resolve.StepConsent, re.Step)

	// Consent ErrNotFound is the database default: on.
	st = &scripted{keys: map[providers.ID]string{providers.Anthropic: byokCanary}, teamKey: "vck-team", consentErr: resolve.ErrNotFound}
	_, path, err := resolve.New(st, st, st, resolve.WithGatewayBYOK()).Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, resolve.GatewayBYOK, path)
}

// With a Snapshotter that knows the consent, gateway-byok costs the one Snapshot and
// nothing else; without it, one consent read.
func TestGatewayBYOK_snapshotOneRoundTrip(t *testing.T) {
	for _, consentOn := range []bool{true, false} {
		keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
		keys.Put(user1, providers.Anthropic, byokCanary)
		consent.Set(user1, consentOn)
		snap := resolvetest.NewSnapshotKeys(keys, consent)
		r := resolve.New(snap, consent, resolve.Team{GatewayKey: secret(teamGatewayCanary)}, resolve.WithGatewayBYOK())
		_, path, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		want := resolve.GatewayBYOK
		if !consentOn {
			want = resolve.UserProvider
		}
		assert.Equal(t, want, path)
		assert.Equal(t, 1, snap.Calls(), "one Snapshot")
		assert.Zero(t, keys.Calls(), "no per-key lookups")
		assert.Zero(t, consent.Calls(), "consent came with the snapshot")
	}

	keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
	keys.Put(user1, providers.OpenAI, byokCanary)
	snap := resolvetest.NewSnapshotKeys(keys, nil) // a store that does not know consent
	r := resolve.New(snap, consent, resolve.Team{GatewayKey: secret(teamGatewayCanary)}, resolve.WithGatewayBYOK())
	_, path, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, resolve.GatewayBYOK, path)
	assert.Equal(t, 1, snap.Calls())
	assert.Equal(t, 1, consent.Calls(), "one consent read when the snapshot does not know it")
}

// A cached gateway-byok result is dropped like any other: after a consent or key change
// and Invalidate, the next Resolve sees the change; without Invalidate the cache answers.
func TestGatewayBYOK_cacheInvalidation(t *testing.T) {
	s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)}, resolve.WithCache(time.Hour))
	s.keys.Put(user1, providers.Anthropic, byokCanary+"-1")
	bodyKey := func(p resolve.Provider) string {
		base := &bodyBase{}
		_, err := send(t, p, base, http.MethodPost, "application/json", `{}`)
		require.NoError(t, err)
		var b struct {
			ProviderOptions struct {
				Gateway struct {
					BYOK map[string][]struct{ APIKey string } `json:"byok"`
				}
			}
		}
		require.NoError(t, json.Unmarshal(base.last(t).body, &b))
		require.Len(t, b.ProviderOptions.Gateway.BYOK["anthropic"], 1, "the body carries the user's key")
		return b.ProviderOptions.Gateway.BYOK["anthropic"][0].APIKey
	}

	p, path, err := s.r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	require.Equal(t, resolve.GatewayBYOK, path)
	assert.Equal(t, byokCanary+"-1", bodyKey(p))
	calls := s.keys.Calls()

	p, path, _ = s.r.Resolve(t.Context(), user1)
	assert.Equal(t, resolve.GatewayBYOK, path)
	assert.Equal(t, byokCanary+"-1", bodyKey(p), "a cache hit keeps the user's key")
	assert.Equal(t, calls, s.keys.Calls(), "answered from the cache")

	s.keys.Put(user1, providers.Anthropic, byokCanary+"-2")
	s.r.Invalidate(user1)
	p, path, _ = s.r.Resolve(t.Context(), user1)
	assert.Equal(t, resolve.GatewayBYOK, path)
	assert.Equal(t, byokCanary+"-2", bodyKey(p), "the new key after Invalidate")

	s.consent.Set(user1, false)
	_, path, _ = s.r.Resolve(t.Context(), user1)
	assert.Equal(t, resolve.GatewayBYOK, path, "cached until invalidated")
	s.r.Invalidate(user1)
	p, path, _ = s.r.Resolve(t.Context(), user1)
	assert.Equal(t, resolve.UserProvider, path)
	assert.Equal(t, providers.Anthropic, p.ID)

	// A call's options never stick to the cached result.
	s.consent.Set(user1, true)
	s.r.Invalidate(user1)
	p, _, _ = s.r.Resolve(t.Context(), user1, resolve.WithGatewayOptions(gateway.Options{User: "call-1"}))
	assert.Equal(t, "call-1", p.GatewayOptions().User)
	p, _, _ = s.r.Resolve(t.Context(), user1)
	assert.Zero(t, p.GatewayOptions())
	assert.Equal(t, byokCanary+"-2", bodyKey(p))
	p, _, _ = s.r.Resolve(t.Context(), user1, resolve.WithGatewayOptions(gateway.Options{User: "call-2"}))
	assert.Equal(t, "call-2", p.GatewayOptions().User)
	assert.Equal(t, byokCanary+"-2", bodyKey(p), "a hit with call options keeps the key")
}

// The user's key is found in the request body and nowhere else: not in the Provider
// printed or logged, its options, spans, metrics, errors or the Transport.
func TestGatewayBYOK_canary(t *testing.T) {
	sr, tracing := newTracing(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	var logs bytes.Buffer
	s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)}, tracing, resolve.WithMeterProvider(mp),
		resolve.WithDefaultGatewayOptions(gateway.Options{Tags: []string{"t"}}), resolve.WithCache(time.Hour))
	s.keys.Put(user1, providers.Anthropic, byokCanary)
	p, path, err := s.r.Resolve(t.Context(), user1, resolve.WithModel("claude-sonnet-4.5"))
	require.NoError(t, err)
	require.Equal(t, resolve.GatewayBYOK, path)
	_, _, err = s.r.Resolve(t.Context(), user1, resolve.WithModel("claude-sonnet-4.5")) // a cache hit too
	require.NoError(t, err)

	var out bytes.Buffer
	tr := p.Transport(nil)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		fmt.Fprintf(&out, verb+" "+verb+" "+verb+" "+verb+"\n", p, &p, p.GatewayOptions(), tr)
	}
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("resolved", "provider", p, "ptr", &p, "opts", p.GatewayOptions(), "transport", tr)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("resolved", "provider", p, "ptr", &p, "opts", p.GatewayOptions())
	js, err := json.Marshal(map[string]any{"provider": p, "ptr": &p, "opts": p.GatewayOptions()})
	require.NoError(t, err)
	out.Write(js)
	out.WriteString(logs.String())
	slug, _ := p.GatewayBYOK()
	out.WriteString(slug)
	for _, sp := range sr.Ended() {
		for _, kv := range sp.Attributes() {
			fmt.Fprintln(&out, kv.Key, kv.Value.Emit())
		}
		out.WriteString(sp.Status().Description)
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	fmt.Fprintf(&out, "%+v", rm)

	// A refused body's error.
	base := &bodyBase{}
	_, err = send(t, p, base, http.MethodPost, "application/json", `[]`)
	require.Error(t, err)
	out.WriteString(err.Error())

	assert.NotContains(t, out.String(), byokCanary)
	assert.NotContains(t, out.String(), teamGatewayCanary)
	assert.Contains(t, logs.String(), "anthropic/claude-sonnet-4.5", "the logs were written")
	spans := ""
	for _, sp := range sr.Ended() {
		spans += fmt.Sprint(spanAttrs(sp))
	}
	assert.Contains(t, spans, "path:gateway-byok", "the span names the path")

	// Positive control: the key is in the body sent, and only there.
	_, err = send(t, p, base, http.MethodPost, "application/json", `{"model":"m"}`)
	require.NoError(t, err)
	got := base.last(t)
	assert.Contains(t, string(got.body), byokCanary)
	assert.NotContains(t, fmt.Sprint(got.header), byokCanary)
}

// The span of a gateway-byok resolution has the usual attributes, the new path among
// them, and nothing else.
func TestGatewayBYOK_spanAttributes(t *testing.T) {
	sr, tracing := newTracing(t)
	s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)}, tracing,
		resolve.WithDefaultGatewayOptions(gateway.Options{User: "u"}))
	s.keys.Put(user1, providers.XAI, byokCanary)
	_, _, err := s.r.Resolve(t.Context(), user1, resolve.WithGatewayOptions(gateway.Options{Tags: []string{"t"}}))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"path": "gateway-byok", "provider": "gateway", "baseUrlHost": "ai-gateway.vercel.sh", "baseUrlSource": "default",
	}, spanAttrs(onlySpan(t, sr)))
}

// The metrics count gateway-byok under its path, on misses and on hits.
func TestGatewayBYOK_metrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)}, resolve.WithMeterProvider(mp), resolve.WithCache(time.Hour))
	s.keys.Put(user1, providers.OpenAI, byokCanary)
	for range 3 {
		_, path, err := s.r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		require.Equal(t, resolve.GatewayBYOK, path)
	}
	_, _, err := s.r.Resolve(t.Context(), user1, resolve.WithGatewayOptions(gateway.Options{User: "u"}))
	require.NoError(t, err)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != resolve.MetricResolutions {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				var attrs []string
				for _, kv := range dp.Attributes.ToSlice() {
					attrs = append(attrs, string(kv.Key)+"="+kv.Value.Emit())
				}
				got[strings.Join(attrs, ",")] += dp.Value
			}
		}
	}
	assert.Equal(t, map[string]int64{"cache=miss,path=gateway-byok": 1, "cache=hit,path=gateway-byok": 3}, got)
}

// refused sends body through p's Transport and requires a refusal matching
// gateway.ErrBody before base is called, with the caller's body closed; it returns the
// reason.
func refused(t *testing.T, p resolve.Provider, method, contentType, body string) string {
	t.Helper()
	var rd io.Reader
	tb := &trackedBody{Reader: strings.NewReader(body)}
	if body != "" {
		rd = tb
	}
	req, err := http.NewRequest(method, p.BaseURL+"/chat/completions", rd)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	base := &bodyBase{}
	resp, err := p.Transport(base).RoundTrip(req)
	assert.Nil(t, resp)
	require.ErrorIs(t, err, gateway.ErrBody)
	var be *gateway.BodyError
	require.ErrorAs(t, err, &be)
	assert.Empty(t, base.requests(), "nothing was sent")
	if body != "" {
		assert.True(t, tb.closed.Load(), "the body is closed")
	}
	assert.NotContains(t, err.Error(), byokCanary)
	assert.NotContains(t, err.Error(), teamGatewayCanary)
	return be.Reason
}

// gatewayMembers decodes the providerOptions.gateway object of a body sent.
func gatewayMembers(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var b struct {
		ProviderOptions struct {
			Gateway map[string]json.RawMessage `json:"gateway"`
		} `json:"providerOptions"`
	}
	require.NoError(t, json.Unmarshal(body, &b), string(body))
	return b.ProviderOptions.Gateway
}

// compact re-encodes a JSON value without white space.
func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, raw))
	return buf.String()
}

// A body cannot loosen the compliance controls the options set: every loosening body
// is refused before anything is sent, every tightening body goes out as written.
func TestGatewayOptions_complianceWinsOverTheBody(t *testing.T) {
	include := gateway.Options{ZeroDataRetention: true, DisallowPromptTraining: true,
		Only: []string{"Anthropic", "bedrock"}, Headquarters: []string{"us", "DE"}}
	exclude := gateway.Options{Headquarters: []string{"!CN", "!ru"}}
	policies := map[string]gateway.Options{"include": include, "exclude": exclude}
	loosening := []struct{ policy, gw string }{
		{"include", `{"zeroDataRetention":false}`},
		{"include", `{"zeroDataRetention":null}`},
		{"include", `{"zeroDataRetention":"true"}`},
		{"include", `{"zeroDataRetention":1}`},
		{"include", `{"zeroDataRetention":{}}`},
		{"include", `{"zero\u0044ataRetention":false}`},
		{"include", `{"disallowPromptTraining":false}`},
		{"include", `{"disallowPromptTraining":null}`},
		{"include", `{"disallowPromptTraining":[]}`},
		{"include", `{"only":["openai"]}`},
		{"include", `{"only":["anthropic","openai"]}`},
		{"include", `{"only":[]}`},
		{"include", `{"only":null}`},
		{"include", `{"only":"anthropic"}`},
		{"include", `{"only":["Anthropic"]}`},
		{"include", `{"only":[" anthropic"]}`},
		{"include", `{"only":["anthropic",null]}`},
		{"include", `{"only":[1]}`},
		{"include", `{"only":["!openai"]}`},
		{"include", `{"only":{"anthropic":true}}`},
		{"include", `{"headquarters":["CN"]}`},
		{"include", `{"headquarters":["US","CN"]}`},
		{"include", `{"headquarters":["us"]}`},
		{"include", `{"headquarters":[]}`},
		{"include", `{"headquarters":null}`},
		{"include", `{"headquarters":"US"}`},
		{"include", `{"headquarters":["!CN"]}`},
		{"include", `{"headquarters":["US","!CN"]}`},
		{"include", `{"user":"u","only":["anthropic"],"zeroDataRetention":true,"disallowPromptTraining":false}`},
		{"exclude", `{"headquarters":["!CN"]}`},
		{"exclude", `{"headquarters":["!cn","!RU"]}`},
		{"exclude", `{"headquarters":["!CN","!RU ","!IR"]}`},
		{"exclude", `{"headquarters":["CN"]}`},
		{"exclude", `{"headquarters":["US","RU"]}`},
		{"exclude", `{"headquarters":["UK"]}`},
		{"exclude", `{"headquarters":["us"]}`},
		{"exclude", `{"headquarters":["!CN","!RU","US"]}`},
		{"exclude", `{"headquarters":[]}`},
		{"exclude", `{"headquarters":null}`},
		{"exclude", `{"headquarters":[null]}`},
	}
	for _, c := range loosening {
		t.Run("refused "+c.policy+" "+c.gw, func(t *testing.T) {
			p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(policies[c.policy])})
			body := `{"model":"m","providerOptions":{"gateway":` + c.gw + `}}`
			assert.Equal(t, gateway.ReasonComplianceConflict, refused(t, p, http.MethodPost, "application/json", body))
		})
	}

	// A member set twice: the gateway would read one of them, maybe not the one checked.
	p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(include)})
	for _, gw := range []string{`{"zeroDataRetention":true,"zeroDataRetention":false}`, `{"only":["anthropic"],"\u006fnly":["openai"]}`} {
		assert.Equal(t, gateway.ReasonDuplicateKey, refused(t, p, http.MethodPost, "application/json", `{"providerOptions":{"gateway":`+gw+`}}`), gw)
	}

	tightening := []struct{ policy, gw string }{
		{"include", `{"zeroDataRetention":true}`},
		{"include", `{"disallowPromptTraining":true,"zeroDataRetention":true}`},
		{"include", `{"only":["anthropic"]}`},
		{"include", `{"only":["bedrock","anthropic","bedrock"]}`},
		{"include", `{"headquarters":["US"]}`},
		{"include", `{"headquarters":["DE","US"]}`},
		{"include", `{"only":["bedrock"],"headquarters":["DE"],"zeroDataRetention":true,"disallowPromptTraining":true,"user":null,"sort":"cost"}`},
		{"include", `{"zeroDataRetention" : true , "only" : [ "anthropic" ] }`},
		{"exclude", `{"headquarters":["!CN","!RU"]}`},
		{"exclude", `{"headquarters":["!RU","!IR","!CN"]}`},
		{"exclude", `{"headquarters":["US","DE"]}`},
		{"exclude", `{"headquarters":["GB"]}`},
		{"exclude", `{"zeroDataRetention":false,"only":[]}`}, // not set by these options: the caller's
	}
	for _, c := range tightening {
		t.Run("passes "+c.policy+" "+c.gw, func(t *testing.T) {
			p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(policies[c.policy])})
			base := &bodyBase{}
			_, err := send(t, p, base, http.MethodPost, "application/json", `{"model":"m","providerOptions":{"gateway":`+c.gw+`}}`)
			require.NoError(t, err)
			got := gatewayMembers(t, base.last(t).body)
			var in map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(c.gw), &in))
			for name, v := range in {
				assert.Equal(t, compact(t, v), compact(t, got[name]), "the body's own %s is kept", name)
			}
			want := map[string]string{"include": `{"zeroDataRetention":true,"disallowPromptTraining":true,"only":["anthropic","bedrock"],"headquarters":["US","DE"]}`,
				"exclude": `{"headquarters":["!CN","!RU"]}`}[c.policy]
			var policy map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(want), &policy))
			for name, v := range policy {
				if _, own := in[name]; !own {
					assert.Equal(t, string(v), string(got[name]), "the options' %s is added", name)
				}
			}
		})
	}
}

// A call's options cannot loosen the defaults' compliance either: an Only or
// Headquarters that allows more is refused with gateway.ErrInvalidOptions before any
// store is called; one that allows less replaces the defaults'.
func TestGatewayOptions_callCannotLoosenTheDefaults(t *testing.T) {
	defaults := []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{
		Only: []string{"anthropic", "bedrock"}, Headquarters: []string{"US", "DE"}, ZeroDataRetention: true})}
	excluding := []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{Headquarters: []string{"!CN"}})}
	for name, c := range map[string]struct {
		opts []resolve.Option
		call []gateway.Options
	}{
		"only outside":                {defaults, []gateway.Options{{Only: []string{"openai"}}}},
		"only wider":                  {defaults, []gateway.Options{{Only: []string{"anthropic", "vertex"}}}},
		"headquarters outside":        {defaults, []gateway.Options{{Headquarters: []string{"FR"}}}},
		"exclusion under inclusion":   {defaults, []gateway.Options{{Headquarters: []string{"!CN"}}}},
		"fewer exclusions":            {excluding, []gateway.Options{{Headquarters: []string{"!RU"}}}},
		"an excluded country allowed": {excluding, []gateway.Options{{Headquarters: []string{"US", "cn"}}}},
		"the second call loosens the first": {nil, []gateway.Options{
			{Only: []string{"anthropic"}}, {Only: []string{"anthropic", "openai"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			keys := resolvetest.NewKeys()
			r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{GatewayKey: secret(teamGatewayCanary)}, c.opts...)
			var call []resolve.CallOption
			for _, o := range c.call {
				call = append(call, resolve.WithGatewayOptions(o))
			}
			_, _, err := r.Resolve(t.Context(), user1, call...)
			require.ErrorIs(t, err, gateway.ErrInvalidOptions)
			var re *resolve.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "invalid_gateway_options", re.Code())
			assert.Zero(t, keys.Calls(), "no store call")
		})
	}

	for _, c := range []struct {
		opts []resolve.Option
		call gateway.Options
		want string
	}{
		{defaults, gateway.Options{Only: []string{"Bedrock"}, Headquarters: []string{"de"}},
			`{"only":["bedrock"],"zeroDataRetention":true,"headquarters":["DE"]}`},
		{excluding, gateway.Options{Headquarters: []string{"!RU", "!CN"}}, `{"headquarters":["!RU","!CN"]}`},
		{excluding, gateway.Options{Headquarters: []string{"US"}}, `{"headquarters":["US"]}`},
		{nil, gateway.Options{Only: []string{"vertex"}, Headquarters: []string{"!US"}}, `{"only":["vertex"],"headquarters":["!US"]}`},
	} {
		p := teamGatewayProvider(t, c.opts, resolve.WithGatewayOptions(c.call))
		base := &bodyBase{}
		_, err := send(t, p, base, http.MethodPost, "application/json", `{}`)
		require.NoError(t, err)
		assert.Equal(t, `{"providerOptions":{"gateway":`+c.want+`}}`, string(base.last(t).body))
	}
}

// On gateway-byok, the user's key cannot be dropped: every byok shape that would send
// the request without it is refused before anything is sent, and so is a request that
// cannot carry it (not a JSON POST, or an empty one). A caller's own credential for the
// slug is kept; requests without a body pass.
func TestGatewayBYOK_keyCannotBeDropped(t *testing.T) {
	s := newBYOK(t, resolve.Team{GatewayKey: secret(teamGatewayCanary)})
	s.keys.Put(user1, providers.Anthropic, byokCanary)
	p, path, err := s.r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	require.Equal(t, resolve.GatewayBYOK, path)

	for _, byok := range []string{
		`null`, `[]`, `[{"apiKey":"x"}]`, `"x"`, `1`, `true`, `false`,
		`{"anthropic":null}`, `{"anthropic":[]}`, `{"anthropic":{}}`, `{"anthropic":{"apiKey":"x"}}`,
		`{"anthropic":"x"}`, `{"anthropic":[null]}`, `{"anthropic":[{}]}`, `{"anthropic":[ { } ]}`,
		`{"anthropic":["sk-ant-x"]}`, `{"anthropic":[{"apiKey":"own"},1]}`, `{"anthropic":[[]]}`,
		`{"\u0061nthropic":null}`, `{"bedrock":[{"accessKeyId":"a"}],"anthropic":false}`,
	} {
		t.Run("byok "+byok, func(t *testing.T) {
			body := `{"model":"m","providerOptions":{"gateway":{"byok":` + byok + `}}}`
			assert.Equal(t, gateway.ReasonBYOKConflict, refused(t, p, http.MethodPost, "application/json", body))
		})
	}
	assert.Equal(t, gateway.ReasonDuplicateKey, refused(t, p, http.MethodPost, "application/json",
		`{"providerOptions":{"gateway":{"byok":{"anthropic":[{"apiKey":"own"}],"anthropic":null}}}}`))

	for _, c := range []struct{ method, contentType, body, reason string }{
		{http.MethodPost, "text/plain", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPost, "", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPost, "", "", gateway.ReasonNotJSON},
		{http.MethodPost, "multipart/form-data; boundary=x", "--x\r\n\r\n--x--", gateway.ReasonNotJSON},
		{http.MethodPost, "application/vnd.api+json", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPut, "application/json", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPatch, "application/json", `{"model":"m"}`, gateway.ReasonNotJSON},
		{http.MethodPost, "application/json", "", gateway.ReasonEmptyBody},
	} {
		t.Run(c.method+" "+c.contentType+" "+c.body, func(t *testing.T) {
			assert.Equal(t, c.reason, refused(t, p, c.method, c.contentType, c.body))
		})
	}
	// A JSON POST whose body turns out empty (its length unknown until read).
	req, err := http.NewRequest(http.MethodPost, p.BaseURL+"/chat/completions", io.MultiReader())
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	base := &bodyBase{}
	_, err = p.Transport(base).RoundTrip(req)
	var be *gateway.BodyError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, gateway.ReasonEmptyBody, be.Reason)
	assert.Empty(t, base.requests())

	// Requests without a body pass unchanged, and carry no key.
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions} {
		base := &bodyBase{}
		_, err := send(t, p, base, method, "", "")
		require.NoError(t, err, method)
		assert.Empty(t, base.last(t).body)
	}

	// The caller's own credential for the slug is kept; other slugs get the user's key.
	for _, c := range []struct{ byok, want string }{
		{`{"anthropic":[{"apiKey":"own"}]}`, `{"anthropic":[{"apiKey":"own"}]}`},
		{`{"anthropic":[{"apiKey":"own"},{"apiKey":"own-2"}]}`, `{"anthropic":[{"apiKey":"own"},{"apiKey":"own-2"}]}`},
		{`{}`, `{"anthropic":[{"apiKey":"` + byokCanary + `"}]}`},
		{`{"bedrock":null}`, `{"bedrock":null,"anthropic":[{"apiKey":"` + byokCanary + `"}]}`},
	} {
		base := &bodyBase{}
		_, err := send(t, p, base, http.MethodPost, "application/json", `{"providerOptions":{"gateway":{"byok":`+c.byok+`}}}`)
		require.NoError(t, err)
		assert.Equal(t, c.want, string(gatewayMembers(t, base.last(t).body)["byok"]))
	}

	// Without per-request BYOK, byok is the caller's, whatever it holds.
	team := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{User: "u"})})
	for _, byok := range []string{`null`, `[]`, `{"anthropic":null}`} {
		base := &bodyBase{}
		_, err := send(t, team, base, http.MethodPost, "application/json", `{"providerOptions":{"gateway":{"byok":`+byok+`}}}`)
		require.NoError(t, err)
		assert.Equal(t, byok, string(gatewayMembers(t, base.last(t).body)["byok"]))
	}
}

// Every option appears in the body under the gateway's JSON name, in the order of
// Options' fields, normalized.
func TestGatewayOptions_fullOptionSet(t *testing.T) {
	full := gateway.Options{
		Order: []string{"anthropic"}, Only: []string{"anthropic", "bedrock"}, Models: []string{"gpt-4o"},
		User: "u", Tags: []string{"t"}, ZeroDataRetention: true, DisallowPromptTraining: true,
		Sort: "TTFT", Headquarters: []string{"us", " de "}, Has: []string{"tool-use", "Vision", "!quantization:FP8", "tool-use"},
		ServiceTier: "priority", Caching: "auto",
		BYOKTimeouts:  map[string]time.Duration{"openai": 5 * time.Second, "Anthropic": 2500 * time.Millisecond},
		QuotaEntityID: "org-42",
	}
	p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(full)})
	base := &bodyBase{}
	_, err := send(t, p, base, http.MethodPost, "application/json", `{"model":"m"}`)
	require.NoError(t, err)
	assert.Equal(t, `{"model":"m","providerOptions":{"gateway":{"order":["anthropic"],"only":["anthropic","bedrock"],`+
		`"models":["openai/gpt-4o"],"user":"u","tags":["t"],"zeroDataRetention":true,"disallowPromptTraining":true,`+
		`"sort":"ttft","headquarters":["US","DE"],"has":["tool-use","vision","!quantization:fp8"],"serviceTier":"priority",`+
		`"caching":"auto","providerTimeouts":{"byok":{"anthropic":2500,"openai":5000}},"quotaEntityId":"org-42"}}}`,
		string(base.last(t).body))
	got := p.GatewayOptions()
	assert.Equal(t, map[string]time.Duration{"anthropic": 2500 * time.Millisecond, "openai": 5 * time.Second}, got.BYOKTimeouts)
	got.BYOKTimeouts["openai"] = time.Hour
	assert.Equal(t, 5*time.Second, p.GatewayOptions().BYOKTimeouts["openai"], "the accessor's map is a copy")

	// A call over the defaults: Sort, ServiceTier and Caching replace, Has adds, the
	// timeouts merge by slug with the call's winning.
	p = teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{
		Sort: "cost", Has: []string{"reasoning"}, ServiceTier: "flex", BYOKTimeouts: map[string]time.Duration{"openai": time.Second, "anthropic": time.Second}})},
		resolve.WithGatewayOptions(gateway.Options{Sort: "tps", Has: []string{"vision", "reasoning"}, ServiceTier: "priority", Caching: "auto",
			BYOKTimeouts: map[string]time.Duration{"OpenAI": 3 * time.Second}}))
	_, err = send(t, p, base, http.MethodPost, "application/json", `{}`)
	require.NoError(t, err)
	assert.Equal(t, `{"providerOptions":{"gateway":{"sort":"tps","has":["reasoning","vision"],"serviceTier":"priority","caching":"auto",`+
		`"providerTimeouts":{"byok":{"anthropic":1000,"openai":3000}}}}}`, string(base.last(t).body))
}

// The options' BYOK timeouts merge into a body's own providerTimeouts by slug, the
// body's slugs winning; a providerTimeouts or byok that is not an object is the body's.
func TestGatewayOptions_providerTimeoutsMerge(t *testing.T) {
	p := teamGatewayProvider(t, []resolve.Option{resolve.WithDefaultGatewayOptions(gateway.Options{
		BYOKTimeouts: map[string]time.Duration{"openai": 5 * time.Second, "anthropic": 2 * time.Second}})})
	for _, c := range []struct{ in, want string }{
		{`{"byok":{"anthropic":100}}`, `{"byok":{"anthropic":100,"openai":5000}}`},
		{`{"byok":{"openai":1,"anthropic":2}}`, `{"byok":{"openai":1,"anthropic":2}}`},
		{`{"byok":{"vertex":7}}`, `{"byok":{"vertex":7,"anthropic":2000,"openai":5000}}`},
		{`{"byok":{}}`, `{"byok":{"anthropic":2000,"openai":5000}}`},
		{`{}`, `{"byok":{"anthropic":2000,"openai":5000}}`},
		{`{"system":{"openai":9}}`, `{"system":{"openai":9},"byok":{"anthropic":2000,"openai":5000}}`},
		{`null`, `null`},
		{`{"byok":null}`, `{"byok":null}`},
		{`"x"`, `"x"`},
	} {
		base := &bodyBase{}
		_, err := send(t, p, base, http.MethodPost, "application/json", `{"providerOptions":{"gateway":{"providerTimeouts":`+c.in+`}}}`)
		require.NoError(t, err, c.in)
		assert.Equal(t, `{"providerOptions":{"gateway":{"providerTimeouts":`+c.want+`}}}`, string(base.last(t).body), c.in)
	}
	for _, in := range []string{
		`{"providerTimeouts":{"byok":{"openai":1,"openai":2}}}`,
		`{"providerTimeouts":{"byok":{},"byok":{}}}`,
		`{"providerTimeouts":{},"providerTimeouts":{}}`,
	} {
		assert.Equal(t, gateway.ReasonDuplicateKey, refused(t, p, http.MethodPost, "application/json", `{"providerOptions":{"gateway":`+in+`}}`), in)
	}
}
