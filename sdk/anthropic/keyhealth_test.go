package byokanthropic_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	byokanthropic "github.com/byok-go/byok/sdk/anthropic"
)

// Through the real anthropic-sdk-go, a provider that refuses the user's key: the SDK's
// own error carries the provider's status and error body as without byok, and the key is
// marked, so the next Resolve refuses it.
func TestKeyHealth_sdkErrorAndMark(t *testing.T) {
	serverEnv(t)
	cases := []struct {
		name   string
		status int
		body   string
		typ    string
		want   providers.Failure
	}{
		{"401 authentication_error", 401,
			`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`,
			"authentication_error", providers.FailureInvalidKey},
		{"402 billing_error", 402,
			`{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low to access the Anthropic API."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fz"}`,
			"billing_error", providers.FailureNoCredit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := resolvetest.NewKeys()
			keys.Put(user, providers.Anthropic, "sk-ant-user-health")
			r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithKeyHealth())
			p, path, err := r.Resolve(t.Context(), user, resolve.WithModel("anthropic/claude-sonnet-4.5"))
			require.NoError(t, err)
			require.Equal(t, resolve.UserProvider, path)

			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, c.body)
			}))
			t.Cleanup(srv.Close)
			opts, err := byokanthropic.RequestOptions(p, resolvetest.NewUpstream(srv))
			require.NoError(t, err)
			client := anthropic.NewClient(opts...)
			_, err = client.Messages.New(t.Context(), anthropic.MessageNewParams{
				Model:     p.Model,
				MaxTokens: 16,
				Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
			})
			var apiErr *anthropic.Error
			require.True(t, errors.As(err, &apiErr), "%v", err)
			assert.Equal(t, c.status, apiErr.StatusCode)
			assert.JSONEq(t, c.body, apiErr.RawJSON(), "the SDK read the provider's whole body")
			assert.Contains(t, string(apiErr.DumpResponse(true)), c.body)
			assert.Contains(t, apiErr.RawJSON(), c.typ)

			require.Eventually(t, func() bool { return keys.KeyFailure(user, providers.Anthropic) == c.want },
				10*time.Second, time.Millisecond, "the key is marked %s", c.want)
			_, _, err = r.Resolve(t.Context(), user)
			require.ErrorIs(t, err, resolve.ErrKeyBroken)
			var re *resolve.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, providers.Anthropic, re.Provider)
			assert.Equal(t, string(c.want), re.Reason)
		})
	}
}
