package byokopenai_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	byokopenai "github.com/byok-go/byok/sdk/openai"
)

const user = "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11"

// serverEnv puts a server canary in every variable either SDK reads by itself.
func serverEnv(t *testing.T) {
	for k, v := range map[string]string{
		"OPENAI_API_KEY":           "sk-env-canary-openai",
		"OPENAI_ORG_ID":            "org-env-canary",
		"OPENAI_PROJECT_ID":        "proj_env-canary",
		"OPENAI_ADMIN_KEY":         "sk-admin-env-canary",
		"OPENAI_BASE_URL":          "https://env-canary.example.com/v1",
		"OPENAI_CUSTOM_HEADERS":    "X-Api-Key: env-canary-custom\nApi-Key: env-canary-custom\nX-Custom: kept",
		"ANTHROPIC_API_KEY":        "sk-ant-env-canary",
		"ANTHROPIC_AUTH_TOKEN":     "env-canary-token",
		"ANTHROPIC_BASE_URL":       "https://env-canary.example.com",
		"ANTHROPIC_CUSTOM_HEADERS": "X-Api-Key: env-canary-custom",
	} {
		t.Setenv(k, v)
	}
}

// seen is what the fake upstream received.
type seen struct {
	method, host, path, model string
	header                    http.Header
}

// upstream fakes every OpenAI-compatible API: it records each request and answers a
// chat completion.
func upstream(t *testing.T) (*httptest.Server, func() []seen) {
	var (
		mu  sync.Mutex
		got []seen
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Model string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, seen{r.Method, r.Host, r.URL.Path, body.Model, r.Header.Clone()})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":0,"model":%q,"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}]}`, body.Model)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

// The real openai-go, with server canaries in every variable it reads, sends exactly
// the resolved key to the resolved host and path, on every path and provider it serves.
func TestRequestOptions_sendsOnlyTheResolvedKey(t *testing.T) {
	serverEnv(t)
	cases := []struct {
		name, hint                string
		setup                     func(keys *resolvetest.Keys) resolve.Team
		path                      resolve.Path
		key, host, urlPath, model string
	}{
		{"user openai", "gpt-4o", func(k *resolvetest.Keys) resolve.Team {
			k.Put(user, providers.OpenAI, "sk-user-openai-7a1c")
			return resolve.Team{}
		}, resolve.UserProvider, "sk-user-openai-7a1c", "api.openai.com", "/v1/chat/completions", "gpt-4o"},
		{"user openrouter", "claude-sonnet-4-5", func(k *resolvetest.Keys) resolve.Team {
			k.Put(user, providers.OpenRouter, "sk-or-user-2b9d")
			return resolve.Team{}
		}, resolve.UserProvider, "sk-or-user-2b9d", "openrouter.ai", "/api/v1/chat/completions", "anthropic/claude-sonnet-4.5"},
		{"user xai", "x-ai/grok-4.3", func(k *resolvetest.Keys) resolve.Team {
			k.Put(user, providers.XAI, "xai-user-5e3f")
			return resolve.Team{}
		}, resolve.UserProvider, "xai-user-5e3f", "api.x.ai", "/v1/chat/completions", "grok-4.3"},
		{"user gateway, own base URL", "claude-sonnet-4.5", func(k *resolvetest.Keys) resolve.Team {
			k.Put(user, providers.Gateway, "vck-user-9c0e")
			k.SetGatewayBaseURL(user, "https://gw.example.com/v1")
			return resolve.Team{GatewayKey: providers.NewSecret("vck-team-unused")}
		}, resolve.UserGateway, "vck-user-9c0e", "gw.example.com", "/v1/chat/completions", "anthropic/claude-sonnet-4.5"},
		{"team gateway", "gemini-2.5-pro", func(*resolvetest.Keys) resolve.Team {
			return resolve.Team{GatewayKey: providers.NewSecret("vck-team-4d2a")}
		}, resolve.TeamGateway, "vck-team-4d2a", "ai-gateway.vercel.sh", "/v1/chat/completions", "google/gemini-2.5-pro"},
		{"server openai", "gpt-5", func(*resolvetest.Keys) resolve.Team {
			return resolve.Team{ServerKeys: map[providers.ID]providers.Secret{providers.OpenAI: providers.NewSecret("sk-team-openai-8f6b")}}
		}, resolve.ServerProvider, "sk-team-openai-8f6b", "api.openai.com", "/v1/chat/completions", "gpt-5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := resolvetest.NewKeys()
			team := c.setup(keys)
			r := resolve.New(keys, resolvetest.NewConsent(true), team, resolve.WithAllowedGatewayHosts("gw.example.com"))
			p, path, err := r.Resolve(t.Context(), user, resolve.WithModel(c.hint))
			require.NoError(t, err)
			require.Equal(t, c.path, path)

			srv, requests := upstream(t)
			opts, err := byokopenai.RequestOptions(p, resolvetest.NewUpstream(srv))
			require.NoError(t, err)
			client := openai.NewClient(opts...)
			completion, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
				Model:    p.Model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			require.NoError(t, err)
			assert.Equal(t, "hi", completion.Choices[0].Message.Content)

			got := requests()
			require.Len(t, got, 1)
			s := got[0]
			assert.Equal(t, http.MethodPost, s.method)
			assert.Equal(t, c.host, s.host)
			assert.Equal(t, c.urlPath, s.path)
			assert.Equal(t, c.model, s.model)
			assert.Equal(t, []string{"Bearer " + c.key}, s.header.Values("Authorization"))
			for _, h := range []string{"X-Api-Key", "Api-Key", "OpenAI-Organization", "OpenAI-Project", "Anthropic-Version"} {
				assert.Empty(t, s.header.Values(h), h)
			}
			assert.Equal(t, "kept", s.header.Get("X-Custom"), "the SDK did read the environment")
			assert.NotContains(t, fmt.Sprint(s.header), "canary")
		})
	}
}

// The options alone, before the Transport, keep the server's environment out of the
// request the SDK builds: what its middleware and logs see holds no server credential.
func TestRequestOptions_sdkRequestHoldsNoServerCredential(t *testing.T) {
	serverEnv(t)
	srv, _ := upstream(t)
	p := resolve.Provider{ID: providers.OpenAI, APIKey: providers.NewSecret("sk-user-openai-7a1c"), BaseURL: "https://api.openai.com/v1"}
	opts, err := byokopenai.RequestOptions(p, resolvetest.NewUpstream(srv))
	require.NoError(t, err)
	var built http.Header
	var builtURL string
	capture := option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		built, builtURL = req.Header.Clone(), req.URL.String()
		return next(req)
	})
	client := openai.NewClient(append(opts, capture)...)
	_, err = client.Models.List(t.Context())
	require.NoError(t, err)
	require.NotNil(t, built)
	assert.Equal(t, "https://api.openai.com/v1/models", builtURL)
	for _, h := range []string{"Authorization", "X-Api-Key", "Api-Key", "OpenAI-Organization", "OpenAI-Project"} {
		assert.Empty(t, built.Values(h), h)
	}
	assert.NotContains(t, fmt.Sprint(built), "canary")
}

// Without a base of the caller's, the client dials public addresses only.
func TestRequestOptions_defaultDialsPublicAddressesOnly(t *testing.T) {
	serverEnv(t)
	srv, requests := upstream(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p := resolve.Provider{ID: providers.Gateway, APIKey: providers.NewSecret("vck-user-1"), BaseURL: "http://127.0.0.1:" + port + "/v1"}
	opts, err := byokopenai.RequestOptions(p, nil)
	require.NoError(t, err)
	client := openai.NewClient(append(opts, option.WithMaxRetries(0))...)
	_, err = client.Models.List(t.Context())
	require.ErrorIs(t, err, providers.ErrEgressDenied)
	assert.Empty(t, requests())
}

func TestRequestOptions_refusesWhatItCannotServe(t *testing.T) {
	for name, c := range map[string]struct {
		p    resolve.Provider
		want error
	}{
		"anthropic": {resolve.Provider{ID: providers.Anthropic, APIKey: providers.NewSecret("sk-ant-canary"), BaseURL: "https://api.anthropic.com"}, byokopenai.ErrUnsupportedProvider},
		"unknown":   {resolve.Provider{ID: "google", APIKey: providers.NewSecret("canary"), BaseURL: "https://example.com"}, byokopenai.ErrUnsupportedProvider},
		"zero":      {resolve.Provider{}, byokopenai.ErrUnsupportedProvider},
		"no key":    {resolve.Provider{ID: providers.OpenAI, BaseURL: "https://api.openai.com/v1"}, byokopenai.ErrNoCredential},
		"no URL":    {resolve.Provider{ID: providers.OpenAI, APIKey: providers.NewSecret("sk-canary")}, byokopenai.ErrNoCredential},
	} {
		opts, err := byokopenai.RequestOptions(c.p, nil)
		require.ErrorIs(t, err, c.want, name)
		assert.Nil(t, opts, name)
		assert.NotContains(t, err.Error(), "canary", name)
	}
}

// The upstream's answers never echo into an error text of ours: an SDK error is the
// SDK's, and the key never appears in what the adapter returns or prints.
func TestRequestOptions_neverPrintsTheKey(t *testing.T) {
	p := resolve.Provider{ID: providers.OpenAI, APIKey: providers.NewSecret("sk-user-canary-3e1d"), BaseURL: "https://api.openai.com/v1"}
	opts, err := byokopenai.RequestOptions(p, nil)
	require.NoError(t, err)
	out := fmt.Sprintf("%v %+v %#v", opts, opts, opts)
	assert.NotContains(t, out, "canary")
	var b strings.Builder
	_, _ = io.WriteString(&b, fmt.Sprint(openai.NewClient(opts...).Options))
	assert.NotContains(t, b.String(), "canary")
}
