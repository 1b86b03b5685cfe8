package vault_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/vault"
)

// answering is a Caller whose every call answers raw.
type answering string

func (a answering) Call(_ context.Context, _ string, _ any, out any) error {
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(a), out)
}

const healthUser = "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11"

var healthOrder = []providers.ID{providers.Gateway, providers.OpenAI, providers.Anthropic}

// The snapshot's members of key health map onto resolve.Snapshot: the key offered is the
// first one not marked, and the marked ones before it are listed.
func TestSnapshot_keyHealthAnswers(t *testing.T) {
	cases := map[string]struct {
		raw  string
		want resolve.Snapshot
	}{
		"healthy, as before": {`{"service":"gateway","api_key":"vck-1","gateway_base_url":null,"allow_gateway_fallback":true}`,
			resolve.Snapshot{ID: providers.Gateway, Key: providers.NewSecret("vck-1"), Consent: ptr(true)}},
		"first marked, next offered": {`{"service":"gateway","api_key":"vck-1","gateway_base_url":null,"allow_gateway_fallback":false,
			"failure":"invalid_key","broken":[{"service":"gateway","failure":"invalid_key"}],"next_service":"anthropic","next_api_key":"sk-ant-2"}`,
			resolve.Snapshot{ID: providers.Anthropic, Key: providers.NewSecret("sk-ant-2"), Consent: ptr(false),
				Broken: []resolve.BrokenKey{{ID: providers.Gateway, Failure: providers.FailureInvalidKey}}}},
		"every key marked": {`{"service":"openai","api_key":"sk-1","gateway_base_url":null,"allow_gateway_fallback":true,
			"failure":"insufficient_credit","broken":[{"service":"openai","failure":"insufficient_credit"},{"service":"anthropic","failure":"permission_denied"}],
			"next_service":null,"next_api_key":null}`,
			resolve.Snapshot{Consent: ptr(true), Broken: []resolve.BrokenKey{
				{ID: providers.OpenAI, Failure: providers.FailureNoCredit}, {ID: providers.Anthropic, Failure: providers.FailurePermission}}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := vault.New(answering(c.raw)).Snapshot(t.Context(), healthUser, healthOrder)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

// A snapshot answer that does not hold together is a malformed response, never a guess.
func TestSnapshot_malformedKeyHealthAnswers(t *testing.T) {
	for name, raw := range map[string]string{
		"failure without broken":  `{"service":"gateway","api_key":"k","failure":"invalid_key","broken":[]}`,
		"broken starts elsewhere": `{"service":"gateway","api_key":"k","failure":"invalid_key","broken":[{"service":"openai","failure":"invalid_key"}]}`,
		"broken not asked for":    `{"service":"gateway","api_key":"k","failure":"invalid_key","broken":[{"service":"gateway","failure":"invalid_key"},{"service":"xai","failure":"invalid_key"}]}`,
		"a non-breaking failure":  `{"service":"gateway","api_key":"k","failure":"rate_limited","broken":[{"service":"gateway","failure":"rate_limited"}]}`,
		"next without its key":    `{"service":"gateway","api_key":"k","failure":"invalid_key","broken":[{"service":"gateway","failure":"invalid_key"}],"next_service":"openai"}`,
		"next not asked for":      `{"service":"gateway","api_key":"k","failure":"invalid_key","broken":[{"service":"gateway","failure":"invalid_key"}],"next_service":"xai","next_api_key":"x"}`,
		"failure without service": `{"service":null,"api_key":null,"failure":"invalid_key","broken":[{"service":"gateway","failure":"invalid_key"}]}`,
		"an unknown failure":      `{"service":"gateway","api_key":"k","failure":"expired","broken":[{"service":"gateway","failure":"expired"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := vault.New(answering(raw)).Snapshot(t.Context(), healthUser, healthOrder)
			assert.ErrorIs(t, err, supabase.ErrMalformedResponse)
		})
	}
}

func TestListKeys_malformedMarks(t *testing.T) {
	for name, raw := range map[string]string{
		"unknown failure": `[{"service":"openai","created_at":"2026-01-01T00:00:00Z","last_used":null,"failure":"expired","failed_at":"2026-01-02T00:00:00Z"}]`,
		"failure no time": `[{"service":"openai","created_at":"2026-01-01T00:00:00Z","last_used":null,"failure":"invalid_key","failed_at":null}]`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := vault.New(answering(raw)).ListKeys(t.Context(), healthUser)
			assert.ErrorIs(t, err, supabase.ErrMalformedResponse)
		})
	}
}

func ptr[T any](v T) *T { return &v }
