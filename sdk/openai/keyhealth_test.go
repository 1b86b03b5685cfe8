package byokopenai_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	byokopenai "github.com/byok-go/byok/sdk/openai"
)

// Through the real openai-go, a provider that refuses the user's key: the SDK's own error
// carries the provider's status and error body as without byok, and the key is marked,
// so the next Resolve refuses it.
func TestKeyHealth_sdkErrorAndMark(t *testing.T) {
	serverEnv(t)
	cases := []struct {
		name   string
		id     providers.ID
		hint   string
		status int
		body   string
		code   string
		want   providers.Failure
	}{
		{"openai 401 invalid_api_key", providers.OpenAI, "gpt-4o", 401,
			`{"error":{"message":"Incorrect API key provided: sk-user*******7a1c. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			"invalid_api_key", providers.FailureInvalidKey},
		// openai-go retries a 429: it closes the first answers unread, and reads the last.
		{"openai 429 insufficient_quota, retried", providers.OpenAI, "gpt-4o", 429,
			`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			"insufficient_quota", providers.FailureNoCredit},
		{"openrouter 402", providers.OpenRouter, "claude-sonnet-4-5", 402,
			`{"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits"}}`,
			"402", providers.FailureNoCredit},
		{"gateway 402", providers.Gateway, "claude-sonnet-4.5", 402,
			`{"error":{"message":"Insufficient funds. Please add credits to your account to continue using AI services.","type":"insufficient_funds"}}`,
			"", providers.FailureNoCredit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := resolvetest.NewKeys()
			keys.Put(user, c.id, "sk-user-health-7a1c")
			r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithKeyHealth())
			p, _, err := r.Resolve(t.Context(), user, resolve.WithModel(c.hint))
			require.NoError(t, err)
			require.Equal(t, c.id, p.ID)

			var answers atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				answers.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After-Ms", "1")
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, c.body)
			}))
			t.Cleanup(srv.Close)
			opts, err := byokopenai.RequestOptions(p, resolvetest.NewUpstream(srv))
			require.NoError(t, err)
			client := openai.NewClient(opts...)
			_, err = client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
				Model:    p.Model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			var apiErr *openai.Error
			require.True(t, errors.As(err, &apiErr), "%v", err)
			assert.Equal(t, c.status, apiErr.StatusCode)
			assert.Equal(t, c.code, apiErr.Code)
			assert.Contains(t, string(apiErr.DumpResponse(true)), c.body, "the SDK read the provider's whole body")

			if c.status == 429 {
				assert.EqualValues(t, 3, answers.Load(), "two retries")
			}
			require.Eventually(t, func() bool { return keys.KeyFailure(user, c.id) == c.want },
				10*time.Second, time.Millisecond, "the key is marked %s", c.want)
			_, _, err = r.Resolve(t.Context(), user)
			require.ErrorIs(t, err, resolve.ErrKeyBroken)
			var re *resolve.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, c.id, re.Provider)
			assert.Equal(t, string(c.want), re.Reason)
		})
	}
}
