package models_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/models"
	"github.com/byok-go/byok/providers"
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

// The tables the package maps with are the lists in testdata, regenerated.
func TestCatalogs_generatedFromTestdata(t *testing.T) {
	for file, generated := range models.Catalogs {
		header, ids := readCatalog(t, file)
		assert.Equal(t, ids, generated, "%s changed: run go generate ./models/", file)
		assert.Regexp(t, `^# \S+ v?\d+\.\d+\.\d+ \((npm|Go)\): `, header, "%s names its package and version", file)
	}
}

// modelFor returns what target is sent for hint, failing the test when target cannot
// serve it.
func modelFor(t *testing.T, hint string, target providers.ID, rules *models.Rules) (string, bool) {
	t.Helper()
	h, err := models.Parse(hint, rules)
	require.NoError(t, err, hint)
	return h.For(target)
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
				got, ok := modelFor(t, hint, tg.id, nil)
				if !assert.True(t, ok, "%s on %s", hint, tg.id) {
					continue
				}
				if assert.Equal(t, want, got, "%s on %s", hint, tg.id) {
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
			got, ok := modelFor(t, hint, id, nil)
			require.True(t, ok, "%s on %s", hint, id)
			assert.Equal(t, model, got, "%s on %s", hint, id)
		}
		_, ok := modelFor(t, hint, providers.OpenAI, nil)
		assert.False(t, ok, "%s never goes to OpenAI", hint)
	}
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
		got, ok := modelFor(t, c.hint, c.target, nil)
		require.True(t, ok, c.hint)
		assert.Equal(t, c.want, got, "%s on %s", c.hint, c.target)
	}
}
