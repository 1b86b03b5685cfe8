package resolve_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// resolverFor returns a Resolver whose only credential is the user's key for target.
func resolverFor(target providers.ID, opts ...resolve.Option) *resolve.Resolver {
	keys := resolvetest.NewKeys()
	keys.Put(user1, target, "u-"+string(target))
	return resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, opts...)
}

// A bare id of an unknown vendor goes to no vendor API, nor to OpenRouter: only a
// gateway, which routes by its own catalog, may serve it.
func TestModelHints_unknownBareOnlyOnAGateway(t *testing.T) {
	keys := resolvetest.NewKeys()
	for _, id := range providers.DefaultOrder() {
		keys.Put(user1, id, "u-"+string(id))
	}
	server := map[providers.ID]providers.Secret{}
	for _, id := range providers.DefaultOrder() {
		server[id] = providers.NewSecret("s-" + string(id))
	}
	noGateway := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{ServerKeys: server})
	_, _, err := noGateway.Resolve(t.Context(), user1, resolve.WithModel("mystery-model-1"))
	require.ErrorIs(t, err, resolve.ErrNoProvider)

	team := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{GatewayKey: secret("t-gw"), ServerKeys: server})
	p, path, err := team.Resolve(t.Context(), user1, resolve.WithModel("mystery-model-1"))
	require.NoError(t, err)
	assert.Equal(t, resolve.TeamGateway, path)
	assert.Equal(t, "mystery-model-1", p.Model)

	// gemini-2.5-pro is Google's (the gateway catalog says so): never sent to OpenAI.
	_, _, err = resolverFor(providers.OpenAI).Resolve(t.Context(), user1, resolve.WithModel("gemini-2.5-pro"))
	require.ErrorIs(t, err, resolve.ErrNoProvider)
	p, _, err = resolverFor(providers.OpenRouter).Resolve(t.Context(), user1, resolve.WithModel("gemini-2.5-pro"))
	require.NoError(t, err)
	assert.Equal(t, "google/gemini-2.5-pro", p.Model)
}

func TestWithVendorSlug(t *testing.T) {
	r := resolverFor(providers.Gateway, resolve.WithVendorSlug(providers.Gateway, "x-ai", "xai"))
	for _, hint := range []string{"grok-4.3", "spacexai/grok-4.3", "x-ai/grok-4.3"} {
		p, _, err := r.Resolve(t.Context(), user1, resolve.WithModel(hint))
		require.NoError(t, err)
		assert.Equal(t, "xai/grok-4.3", p.Model, hint)
	}

	or := resolverFor(providers.OpenRouter, resolve.WithVendorSlug(providers.OpenRouter, "meta", "meta-llama"))
	p, _, err := or.Resolve(t.Context(), user1, resolve.WithModel("llama-3.1-8b"))
	require.NoError(t, err)
	assert.Equal(t, "meta-llama/llama-3.1-8b", p.Model)
	p, _, err = or.Resolve(t.Context(), user1, resolve.WithModel("meta-llama/llama-3.1-70b"))
	require.NoError(t, err)
	assert.Equal(t, "meta-llama/llama-3.1-70b", p.Model, "the slug is accepted in hints too")

	p, _, err = resolverFor(providers.Gateway).Resolve(t.Context(), user1, resolve.WithModel("grok-4.3"))
	require.NoError(t, err)
	assert.Equal(t, "spacexai/grok-4.3", p.Model, "another Resolver keeps the defaults")
}

func TestWithModelID(t *testing.T) {
	r := resolverFor(providers.Anthropic, resolve.WithModelID(providers.Anthropic, "claude-sonnet-4.5", "claude-sonnet-4-5-20250929"))
	for _, hint := range []string{"claude-sonnet-4.5", "anthropic/claude-sonnet-4-5", "Anthropic/Claude-Sonnet-4.5"} {
		p, _, err := r.Resolve(t.Context(), user1, resolve.WithModel(hint))
		require.NoError(t, err)
		assert.Equal(t, "claude-sonnet-4-5-20250929", p.Model, hint)
	}
	p, _, err := r.Resolve(t.Context(), user1, resolve.WithModel("claude-opus-4.5"))
	require.NoError(t, err)
	assert.Equal(t, "claude-opus-4-5", p.Model, "other models keep the catalog's id")

	gw := resolverFor(providers.Gateway, resolve.WithModelID(providers.Gateway, "claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4.5"))
	p, _, err = gw.Resolve(t.Context(), user1, resolve.WithModel("claude-sonnet-4-5-20250929"))
	require.NoError(t, err)
	assert.Equal(t, "anthropic/claude-sonnet-4.5", p.Model)

	// An override does not make a vendor API serve another vendor's model.
	oa := resolverFor(providers.OpenAI, resolve.WithModelID(providers.OpenAI, "claude-sonnet-4.5", "gpt-5"))
	_, _, err = oa.Resolve(t.Context(), user1, resolve.WithModel("claude-sonnet-4.5"))
	require.ErrorIs(t, err, resolve.ErrNoProvider)
}

func TestModelOverrides_invalid(t *testing.T) {
	for name, opt := range map[string]resolve.Option{
		"slug for a vendor API":  resolve.WithVendorSlug(providers.OpenAI, "xai", "x"),
		"slug for unknown":       resolve.WithVendorSlug("google", "xai", "x"),
		"empty vendor":           resolve.WithVendorSlug(providers.Gateway, " ", "x"),
		"empty slug":             resolve.WithVendorSlug(providers.Gateway, "xai", ""),
		"slug with a slash":      resolve.WithVendorSlug(providers.Gateway, "xai", "a/b"),
		"slug with a space":      resolve.WithVendorSlug(providers.Gateway, "xai", "a b"),
		"long slug":              resolve.WithVendorSlug(providers.Gateway, "xai", strings.Repeat("s", 65)),
		"id for unknown":         resolve.WithModelID("google", "gemini-2.5-pro", "x"),
		"empty hint":             resolve.WithModelID(providers.Anthropic, "", "x"),
		"malformed hint":         resolve.WithModelID(providers.Anthropic, "anthropic/", "x"),
		"empty id":               resolve.WithModelID(providers.Anthropic, "claude-sonnet-4.5", " "),
		"id with white space":    resolve.WithModelID(providers.Anthropic, "claude-sonnet-4.5", "claude sonnet"),
		"id over 256 characters": resolve.WithModelID(providers.Anthropic, "claude-sonnet-4.5", strings.Repeat("m", 257)),
	} {
		keys := resolvetest.NewKeys()
		keys.Put(user1, providers.OpenAI, "u-oa")
		_, _, err := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, opt).Resolve(t.Context(), user1)
		assert.ErrorIs(t, err, resolve.ErrInvalidConfig, name)
		assert.Zero(t, keys.Calls(), name)
	}
}
