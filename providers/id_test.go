package providers_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]providers.ID{
		"gateway":      providers.Gateway,
		" OpenAI ":     providers.OpenAI,
		"OPENROUTER":   providers.OpenRouter,
		"anthropic\n":  providers.Anthropic,
		"\txAI":        providers.XAI,
		"xai":          providers.XAI,
		"Gateway     ": providers.Gateway,
	} {
		got, err := providers.Parse(in)
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got, "%q", in)
	}
}

func TestParse_unknown(t *testing.T) {
	for _, in := range []string{"", " ", "google", "open ai", "x-ai", "gateway2", "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"} {
		id, err := providers.Parse(in)
		require.ErrorIs(t, err, providers.ErrUnknown, "%q", in)
		assert.Empty(t, id)
	}
	// A key pasted into the service field is not echoed; a short name is, to help.
	_, err := providers.Parse("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789")
	assert.NotContains(t, err.Error(), "sk-proj")
	_, err = providers.Parse("google")
	assert.Contains(t, err.Error(), `"google"`)
}

func TestDefaultOrder(t *testing.T) {
	want := []providers.ID{providers.OpenAI, providers.OpenRouter, providers.Anthropic, providers.XAI}
	order := providers.DefaultOrder()
	require.Equal(t, want, order)
	order[0] = providers.XAI
	assert.Equal(t, want, providers.DefaultOrder(), "each call returns a fresh slice")

	all := providers.All()
	assert.Equal(t, append([]providers.ID{providers.Gateway}, want...), all)
}

func TestSpec(t *testing.T) {
	want := map[providers.ID][2]string{
		providers.Gateway:    {"https://ai-gateway.vercel.sh/v1", "AI_GATEWAY_API_KEY"},
		providers.OpenAI:     {"https://api.openai.com/v1", "OPENAI_API_KEY"},
		providers.OpenRouter: {"https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"},
		providers.Anthropic:  {"https://api.anthropic.com", "ANTHROPIC_API_KEY"},
		providers.XAI:        {"https://api.x.ai/v1", "XAI_API_KEY"},
	}
	for id, w := range want {
		s, ok := id.Spec()
		require.True(t, ok, id)
		assert.Equal(t, providers.Spec{ID: id, BaseURL: w[0], EnvVar: w[1]}, s)
		assert.True(t, id.Valid())
	}
	_, ok := providers.ID("google").Spec()
	assert.False(t, ok)
	assert.False(t, providers.ID("").Valid())
}
