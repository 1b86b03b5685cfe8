package byokopenai_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	byokopenai "github.com/byok-go/byok/sdk/openai"
)

// received is a request the recording upstream got.
type received struct {
	host   string
	path   string
	header http.Header
	body   []byte
}

// recordingUpstream answers chat completions, streamed when the body asks, and keeps
// every request whole.
func recordingUpstream(t *testing.T) (*httptest.Server, func() []received) {
	var (
		mu  sync.Mutex
		got []received
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Host, r.URL.Path, r.Header.Clone(), body})
		mu.Unlock()
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		_ = json.Unmarshal(body, &req)
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, part := range []string{"h", "i"} {
				_, _ = fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", req.Model, part)
				w.(http.Flusher).Flush()
			}
			_, _ = io.WriteString(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":0,"model":%q,"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}]}`, req.Model)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

// gatewayBody is the part of a request body the gateway reads for its options.
type gatewayBody struct {
	Model           string `json:"model"`
	Stream          bool   `json:"stream"`
	ProviderOptions struct {
		Gateway struct {
			Order             []string `json:"order"`
			Models            []string `json:"models"`
			User              string   `json:"user"`
			Tags              []string `json:"tags"`
			ZeroDataRetention bool     `json:"zeroDataRetention"`
			BYOK              map[string][]struct {
				APIKey string `json:"apiKey"`
			} `json:"byok"`
		} `json:"gateway"`
	} `json:"providerOptions"`
}

// The real openai-go, through the adapter, sends the merged body on the gateway-byok
// path: the team key in Authorization, the user's key only in the body's byok, the
// options beside it; in a plain and in a streaming call, with server canaries in the
// environment.
func TestRequestOptions_gatewayBYOKAndOptions(t *testing.T) {
	serverEnv(t)
	const (
		userKey = "sk-ant-user-byok-canary-51c0"
		teamKey = "vck-team-byok-4e7d"
	)
	keys := resolvetest.NewKeys()
	keys.Put(user, providers.Anthropic, userKey)
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{GatewayKey: providers.NewSecret(teamKey)},
		resolve.WithGatewayBYOK(),
		resolve.WithDefaultGatewayOptions(gateway.Options{Order: []string{"anthropic", "bedrock"}, ZeroDataRetention: true}))
	p, path, err := r.Resolve(t.Context(), user, resolve.WithModel("claude-sonnet-4-5"),
		resolve.WithGatewayOptions(gateway.Options{Models: []string{"gpt-4o"}, User: "end-user-1", Tags: []string{"sdk"}}))
	require.NoError(t, err)
	require.Equal(t, resolve.GatewayBYOK, path)

	srv, requests := recordingUpstream(t)
	opts, err := byokopenai.RequestOptions(p, resolvetest.NewUpstream(srv))
	require.NoError(t, err)
	client := openai.NewClient(opts...)
	params := openai.ChatCompletionNewParams{
		Model:    p.Model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}
	completion, err := client.Chat.Completions.New(t.Context(), params)
	require.NoError(t, err)
	assert.Equal(t, "hi", completion.Choices[0].Message.Content)

	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	var text strings.Builder
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	require.NoError(t, stream.Err())
	require.NoError(t, stream.Close())
	assert.Equal(t, "hi", text.String(), "the stream came through")

	got := requests()
	require.Len(t, got, 2)
	for i, g := range got {
		assert.Equal(t, "ai-gateway.vercel.sh", g.host)
		assert.Equal(t, "/v1/chat/completions", g.path)
		assert.Equal(t, []string{"Bearer " + teamKey}, g.header.Values("Authorization"), "the team key authenticates")
		assert.Empty(t, g.header.Values("X-Api-Key"))
		assert.NotContains(t, fmt.Sprint(g.header), userKey, "the user's key is in no header")
		assert.NotContains(t, fmt.Sprint(g.header), "canary", "no server credential")

		var b gatewayBody
		require.NoError(t, json.Unmarshal(g.body, &b), string(g.body))
		assert.Equal(t, i == 1, b.Stream)
		assert.Equal(t, "anthropic/claude-sonnet-4.5", b.Model)
		gw := b.ProviderOptions.Gateway
		assert.Equal(t, []string{"anthropic", "bedrock"}, gw.Order)
		assert.Equal(t, []string{"openai/gpt-4o"}, gw.Models)
		assert.Equal(t, "end-user-1", gw.User)
		assert.Equal(t, []string{"sdk"}, gw.Tags)
		assert.True(t, gw.ZeroDataRetention)
		require.Len(t, gw.BYOK["anthropic"], 1)
		assert.Equal(t, userKey, gw.BYOK["anthropic"][0].APIKey)
		assert.Len(t, gw.BYOK, 1)
		assert.Equal(t, 1, strings.Count(string(g.body), userKey), "the key once, in byok")
	}

	// Consent off: the same user calls Anthropic's API on their own key; openai-go does
	// not serve it, and the resolution says so.
	consent := resolvetest.NewConsent(false)
	r = resolve.New(keys, consent, resolve.Team{GatewayKey: providers.NewSecret(teamKey)}, resolve.WithGatewayBYOK())
	p, path, err = r.Resolve(t.Context(), user)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserProvider, path)
	_, err = byokopenai.RequestOptions(p, nil)
	require.ErrorIs(t, err, byokopenai.ErrUnsupportedProvider)
}

// Consent off for an OpenAI key: the body the SDK wrote goes to api.openai.com as it is.
func TestRequestOptions_gatewayBYOKConsentOffSendsBodyUnchanged(t *testing.T) {
	serverEnv(t)
	keys := resolvetest.NewKeys()
	keys.Put(user, providers.OpenAI, "sk-user-openai-3a9c")
	r := resolve.New(keys, resolvetest.NewConsent(false), resolve.Team{GatewayKey: providers.NewSecret("vck-team-1")},
		resolve.WithGatewayBYOK(), resolve.WithDefaultGatewayOptions(gateway.Options{User: "u"}))
	p, path, err := r.Resolve(t.Context(), user, resolve.WithModel("gpt-4o"))
	require.NoError(t, err)
	require.Equal(t, resolve.UserProvider, path)

	srv, requests := recordingUpstream(t)
	opts, err := byokopenai.RequestOptions(p, resolvetest.NewUpstream(srv))
	require.NoError(t, err)
	client := openai.NewClient(opts...)
	_, err = client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    p.Model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	require.NoError(t, err)
	got := requests()
	require.Len(t, got, 1)
	assert.Equal(t, "api.openai.com", got[0].host)
	assert.Equal(t, []string{"Bearer sk-user-openai-3a9c"}, got[0].header.Values("Authorization"))
	assert.NotContains(t, string(got[0].body), "providerOptions")
	assert.JSONEq(t, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, string(got[0].body))
}
