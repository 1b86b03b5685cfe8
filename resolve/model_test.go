package resolve_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// readCatalog reads a list from testdata/catalogs: its header line and its ids.
func readCatalog(t *testing.T, file string) (string, []string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "catalogs", file))
	require.NoError(t, err)
	defer f.Close()
	var header string
	var ids []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		switch {
		case strings.HasPrefix(line, "#"):
			if header == "" {
				header = line
			}
		case line != "":
			ids = append(ids, line)
		}
	}
	require.NoError(t, s.Err())
	require.NotEmpty(t, ids, file)
	return header, ids
}

// The tables the library maps with are the lists in testdata, regenerated.
func TestCatalogs_generatedFromTestdata(t *testing.T) {
	for file, generated := range resolve.Catalogs {
		header, ids := readCatalog(t, file)
		assert.Equal(t, ids, generated, "%s changed: run go generate ./resolve/", file)
		assert.Regexp(t, `^# \S+ v?\d+\.\d+\.\d+ \((npm|Go)\): `, header, "%s names its package and version", file)
	}
}

// resolverFor returns a Resolver whose only credential is the user's key for target.
func resolverFor(target providers.ID, opts ...resolve.Option) *resolve.Resolver {
	keys := resolvetest.NewKeys()
	keys.Put(user1, target, "u-"+string(target))
	return resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, opts...)
}

var versionPair = regexp.MustCompile(`(^|-)(\d)-(\d)(-|$)`)

// spellings are the common ways to write one model: each vendor slug (and the vendor
// upper-cased) or none, with its version dotted or hyphenated.
func spellings(vendorSlugs []string, id string) []string {
	dotted := id
	for versionPair.MatchString(dotted) {
		dotted = versionPair.ReplaceAllString(dotted, "$1$2.$3$4")
	}
	hyphenated := strings.ReplaceAll(id, ".", "-")
	var out []string
	for _, form := range []string{id, dotted, hyphenated} {
		out = append(out, form)
		for _, v := range vendorSlugs {
			out = append(out, v+"/"+form, strings.ToUpper(v)+"/"+form)
		}
	}
	return out
}

func canonical(id string) string { return strings.ReplaceAll(strings.ToLower(id), ".", "-") }

// For every model in each catalog the providers ship, every common spelling of its
// hint maps, on every target that carries the model, to that target's catalog id.
func TestModelHints_everyCatalogModelInEverySpelling(t *testing.T) {
	_, gateway := readCatalog(t, "gateway.txt")
	_, anthropic := readCatalog(t, "anthropic.txt")
	_, openai := readCatalog(t, "openai.txt")

	// Each target's catalog by model identity (vendor/canonical id), and its id there.
	type target struct {
		id      providers.ID
		catalog map[string]string
	}
	gw, or, xai, an, oa := map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	vendorOf := map[string]string{"spacexai": "xai"}
	slugs := map[string][]string{"xai": {"xai", "x-ai", "spacexai"}}
	var models []struct{ vendor, id string }
	for _, full := range gateway {
		slug, id, ok := strings.Cut(full, "/")
		require.True(t, ok, full)
		vendor := slug
		if v, ok := vendorOf[slug]; ok {
			vendor = v
		}
		key := vendor + "/" + canonical(id)
		gw[key] = full
		orSlug := vendor
		if vendor == "xai" {
			orSlug = "x-ai"
		}
		or[key] = orSlug + "/" + id
		if vendor == "xai" {
			xai[key] = id
		}
		models = append(models, struct{ vendor, id string }{vendor, id})
	}
	for _, id := range anthropic {
		an["anthropic/"+canonical(id)] = id
		models = append(models, struct{ vendor, id string }{"anthropic", id})
	}
	for _, id := range openai {
		oa["openai/"+canonical(id)] = id
		models = append(models, struct{ vendor, id string }{"openai", id})
	}
	targets := []target{
		{providers.Gateway, gw}, {providers.OpenRouter, or}, {providers.XAI, xai},
		{providers.Anthropic, an}, {providers.OpenAI, oa},
	}
	resolvers := map[providers.ID]*resolve.Resolver{}
	for _, tg := range targets {
		resolvers[tg.id] = resolverFor(tg.id)
	}

	checked := map[providers.ID]int{}
	for _, m := range models {
		key := m.vendor + "/" + canonical(m.id)
		vendorSlugs := slugs[m.vendor]
		if vendorSlugs == nil {
			vendorSlugs = []string{m.vendor}
		}
		for _, tg := range targets {
			want, carried := tg.catalog[key]
			if !carried {
				continue
			}
			for _, hint := range spellings(vendorSlugs, m.id) {
				p, _, err := resolvers[tg.id].Resolve(t.Context(), user1, resolve.WithModel(hint))
				if !assert.NoError(t, err, "%s on %s", hint, tg.id) {
					continue
				}
				assert.Equal(t, tg.id, p.ID, hint)
				if assert.Equal(t, want, p.Model, "%s on %s", hint, tg.id) {
					checked[tg.id]++
				}
			}
		}
	}
	// Every target was exercised, the gateway with all its catalog.
	for _, tg := range targets {
		assert.NotZero(t, checked[tg.id], tg.id)
	}
	assert.GreaterOrEqual(t, checked[providers.Gateway], len(gateway)*3)
	assert.GreaterOrEqual(t, checked[providers.Anthropic], len(anthropic)*3)
	assert.GreaterOrEqual(t, checked[providers.OpenAI], len(openai)*3)
}

func TestModelHints_xaiSlugs(t *testing.T) {
	want := map[providers.ID]string{
		providers.Gateway:    "spacexai/grok-4.3",
		providers.OpenRouter: "x-ai/grok-4.3",
		providers.XAI:        "grok-4.3",
	}
	for _, hint := range []string{"xai/grok-4.3", "x-ai/grok-4.3", "spacexai/grok-4.3", "XAI/grok-4.3", "X-AI/grok-4-3", "grok-4.3", "grok-4-3"} {
		for id, model := range want {
			p, _, err := resolverFor(id).Resolve(t.Context(), user1, resolve.WithModel(hint))
			require.NoError(t, err, hint)
			assert.Equal(t, model, p.Model, "%s on %s", hint, id)
		}
		_, _, err := resolverFor(providers.OpenAI).Resolve(t.Context(), user1, resolve.WithModel(hint))
		assert.ErrorIs(t, err, resolve.ErrNoProvider, "%s never goes to OpenAI", hint)
	}
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

// Models newer than the catalogs follow each target's convention.
func TestModelHints_beyondTheCatalogs(t *testing.T) {
	for _, c := range []struct {
		hint   string
		target providers.ID
		want   string
	}{
		{"claude-sonnet-9.1", providers.Anthropic, "claude-sonnet-9-1"},
		{"anthropic/claude-sonnet-9.1-20300101", providers.Anthropic, "claude-sonnet-9-1-20300101"},
		{"claude-sonnet-9-1", providers.Gateway, "anthropic/claude-sonnet-9.1"},
		{"claude-sonnet-9-1-20300101", providers.OpenRouter, "anthropic/claude-sonnet-9.1-20300101"},
		{"claude-sonnet-4-5-20250929", providers.Gateway, "anthropic/claude-sonnet-4.5-20250929"}, // no dated ids there: not swapped for another
		{"gpt-9-turbo", providers.OpenAI, "gpt-9-turbo"},
		{"gpt-9-turbo", providers.Gateway, "openai/gpt-9-turbo"},
		{"o9-mini", providers.OpenAI, "o9-mini"},
		{"grok-9", providers.XAI, "grok-9"},
		{"gemini-9-ultra", providers.Gateway, "google/gemini-9-ultra"},
		{"mistral/new-model-2", providers.OpenRouter, "mistral/new-model-2"},
		{"meta-llama/llama-3.1-8b-instruct", providers.OpenRouter, "meta-llama/llama-3.1-8b-instruct"},
	} {
		p, _, err := resolverFor(c.target).Resolve(t.Context(), user1, resolve.WithModel(c.hint))
		require.NoError(t, err, c.hint)
		assert.Equal(t, c.want, p.Model, "%s on %s", c.hint, c.target)
	}
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
