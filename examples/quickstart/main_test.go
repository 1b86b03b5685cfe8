package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))

	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
		cols := strings.Split(line, "  ")
		var fields []string
		for _, c := range cols {
			if c = strings.TrimSpace(c); c != "" {
				fields = append(fields, c)
			}
		}
		rows[fields[0]] = fields[1:]
	}
	want := map[string][]string{
		"1. user gateway BYOK (custom base URL)": {"alice", "user-gateway", "gateway", "gateway.example.com", "user", "-", "-"},
		"2. provider BYOK":                       {"bob", "user-provider", "anthropic", "api.anthropic.com", "default", "-", "-"},
		"3. team gateway fallback (consent ON)":  {"carol", "team-gateway", "gateway", "ai-gateway.vercel.sh", "default", "-", "-"},
		"4. consent enforcement (consent OFF)":   {"dave", "-", "-", "-", "-", "-", "fallback_disabled"},
		"server provider fallback (consent ON)":  {"carol", "server-provider", "openai", "api.openai.com", "default", "-", "-"},
		"server provider, consent OFF":           {"dave", "-", "-", "-", "-", "-", "fallback_disabled"},
		"key store outage fails closed":          {"carol", "-", "-", "-", "-", "-", "store_unavailable"},
		"unsafe user base URL rejected":          {"erin", "-", "-", "-", "-", "-", "base_url_rejected"},
		"model hint via team gateway":            {"carol", "team-gateway", "gateway", "ai-gateway.vercel.sh", "default", "anthropic/claude-sonnet-4.5", "-"},
		"model hint via own Anthropic key":       {"bob", "user-provider", "anthropic", "api.anthropic.com", "default", "claude-sonnet-4-5", "-"},
		"gateway BYOK (consent ON)":              {"frank", "gateway-byok", "gateway", "ai-gateway.vercel.sh", "default", "anthropic/claude-sonnet-4.5", "-"},
		"gateway BYOK, consent OFF":              {"grace", "user-provider", "openai", "api.openai.com", "default", "-", "-"},
	}
	assert.Equal(t, want, rows)
	for _, leak := range []string{"vck-", "sk-", "169.254", "connection refused"} {
		assert.NotContains(t, out.String(), leak, "no key, URL or raw store error is printed")
	}
}
