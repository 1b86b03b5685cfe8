package byokanthropic_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	byokanthropic "github.com/byok-go/byok/sdk/anthropic"
)

const user = "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11"

// serverEnv puts a server canary in every variable either SDK reads by itself.
func serverEnv(t *testing.T) {
	for k, v := range map[string]string{
		"ANTHROPIC_API_KEY":        "sk-ant-env-canary",
		"ANTHROPIC_AUTH_TOKEN":     "env-canary-token",
		"ANTHROPIC_BASE_URL":       "https://env-canary.example.com",
		"ANTHROPIC_CUSTOM_HEADERS": "X-Api-Key: env-canary-custom\nAuthorization: Bearer env-canary-custom",
		"ANTHROPIC_PROFILE":        "env-canary-profile",
		"OPENAI_API_KEY":           "sk-env-canary-openai",
		"OPENAI_ORG_ID":            "org-env-canary",
		"OPENAI_PROJECT_ID":        "proj_env-canary",
	} {
		t.Setenv(k, v)
	}
}

type seen struct {
	method, host, path, model string
	header                    http.Header
}

// upstream fakes Anthropic's Messages API: it records each request and answers a message.
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
		_, _ = fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`, body.Model)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

// The real anthropic-sdk-go, with server canaries in every variable it reads, sends
// exactly the resolved key to api.anthropic.com/v1/messages (not /v1/v1/messages).
func TestRequestOptions_sendsOnlyTheResolvedKey(t *testing.T) {
	serverEnv(t)
	for _, c := range []struct {
		name, key string
		setup     func(k *resolvetest.Keys) resolve.Team
		path      resolve.Path
	}{
		{"user key", "sk-ant-user-6c2e", func(k *resolvetest.Keys) resolve.Team {
			k.Put(user, providers.Anthropic, "sk-ant-user-6c2e")
			return resolve.Team{}
		}, resolve.UserProvider},
		{"server key", "sk-ant-team-1f7a", func(*resolvetest.Keys) resolve.Team {
			return resolve.Team{ServerKeys: map[providers.ID]providers.Secret{providers.Anthropic: providers.NewSecret("sk-ant-team-1f7a")}}
		}, resolve.ServerProvider},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys := resolvetest.NewKeys()
			r := resolve.New(keys, resolvetest.NewConsent(true), c.setup(keys))
			p, path, err := r.Resolve(t.Context(), user, resolve.WithModel("anthropic/claude-sonnet-4.5"))
			require.NoError(t, err)
			require.Equal(t, c.path, path)

			srv, requests := upstream(t)
			opts, err := byokanthropic.RequestOptions(p, resolvetest.NewUpstream(srv))
			require.NoError(t, err)
			client := anthropic.NewClient(opts...)
			msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{
				Model:     p.Model,
				MaxTokens: 16,
				Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
			})
			require.NoError(t, err)
			assert.Equal(t, "hi", msg.Content[0].Text)

			got := requests()
			require.Len(t, got, 1)
			s := got[0]
			assert.Equal(t, http.MethodPost, s.method)
			assert.Equal(t, "api.anthropic.com", s.host)
			assert.Equal(t, "/v1/messages", s.path)
			assert.Equal(t, "claude-sonnet-4-5", s.model)
			assert.Equal(t, []string{c.key}, s.header.Values("X-Api-Key"))
			assert.Equal(t, []string{providers.AnthropicVersion}, s.header.Values("Anthropic-Version"))
			for _, h := range []string{"Authorization", "Api-Key", "OpenAI-Organization", "OpenAI-Project"} {
				assert.Empty(t, s.header.Values(h), h)
			}
			assert.NotContains(t, fmt.Sprint(s.header), "canary")
		})
	}
}

// The options alone, before the Transport, keep the server's environment out of the
// request the SDK builds: what its middleware and logs see holds no server credential.
func TestRequestOptions_sdkRequestHoldsNoServerCredential(t *testing.T) {
	serverEnv(t)
	srv, _ := upstream(t)
	p := resolve.Provider{ID: providers.Anthropic, APIKey: providers.NewSecret("sk-ant-user-6c2e"), BaseURL: "https://api.anthropic.com"}
	opts, err := byokanthropic.RequestOptions(p, resolvetest.NewUpstream(srv))
	require.NoError(t, err)
	var built http.Header
	var builtURL string
	capture := option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		built, builtURL = req.Header.Clone(), req.URL.String()
		return next(req)
	})
	client := anthropic.NewClient(append(opts, capture)...)
	_, err = client.Messages.New(t.Context(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 16,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	require.NoError(t, err)
	require.NotNil(t, built)
	assert.Equal(t, "https://api.anthropic.com/v1/messages", builtURL)
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		assert.Empty(t, built.Values(h), h)
	}
	assert.NotContains(t, fmt.Sprint(built), "canary")
}

// Without a base of the caller's, the client dials public addresses only.
func TestRequestOptions_defaultDialsPublicAddressesOnly(t *testing.T) {
	serverEnv(t)
	srv, requests := upstream(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p := resolve.Provider{ID: providers.Anthropic, APIKey: providers.NewSecret("sk-ant-user-1"), BaseURL: "http://127.0.0.1:" + port}
	opts, err := byokanthropic.RequestOptions(p, nil)
	require.NoError(t, err)
	client := anthropic.NewClient(append(opts, option.WithMaxRetries(0))...)
	_, err = client.Models.List(t.Context(), anthropic.ModelListParams{})
	require.ErrorIs(t, err, providers.ErrEgressDenied)
	assert.Empty(t, requests())
}

func TestRequestOptions_refusesWhatItCannotServe(t *testing.T) {
	for name, c := range map[string]struct {
		p    resolve.Provider
		want error
	}{
		"gateway": {resolve.Provider{ID: providers.Gateway, APIKey: providers.NewSecret("vck-canary"), BaseURL: "https://ai-gateway.vercel.sh/v1"}, byokanthropic.ErrUnsupportedProvider},
		"openai":  {resolve.Provider{ID: providers.OpenAI, APIKey: providers.NewSecret("sk-canary"), BaseURL: "https://api.openai.com/v1"}, byokanthropic.ErrUnsupportedProvider},
		"zero":    {resolve.Provider{}, byokanthropic.ErrUnsupportedProvider},
		"no key":  {resolve.Provider{ID: providers.Anthropic, BaseURL: "https://api.anthropic.com"}, byokanthropic.ErrNoCredential},
		"no URL":  {resolve.Provider{ID: providers.Anthropic, APIKey: providers.NewSecret("sk-ant-canary")}, byokanthropic.ErrNoCredential},
	} {
		opts, err := byokanthropic.RequestOptions(c.p, nil)
		require.ErrorIs(t, err, c.want, name)
		assert.Nil(t, opts, name)
		assert.NotContains(t, err.Error(), "canary", name)
	}
}

func TestRequestOptions_neverPrintsTheKey(t *testing.T) {
	p := resolve.Provider{ID: providers.Anthropic, APIKey: providers.NewSecret("sk-ant-user-canary-3e1d"), BaseURL: "https://api.anthropic.com"}
	opts, err := byokanthropic.RequestOptions(p, nil)
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", opts, opts, opts), "canary")
	assert.NotContains(t, fmt.Sprint(anthropic.NewClient(opts...).Options), "canary")
}
