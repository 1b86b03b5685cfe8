package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChat(t *testing.T) {
	for k, v := range serverEnv {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))

	rows := map[string][]string{}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		rows[fields[0]] = fields[1:]
	}
	assert.Equal(t, map[string][]string{
		"alice": {"user-gateway", "ai-gateway.vercel.sh", "/v1/chat/completions", "anthropic/claude-sonnet-4.5", "...al1c", "none"},
		"bob":   {"user-provider", "api.openai.com", "/v1/chat/completions", "gpt-5", "...b0b1", "none"},
		"carol": {"team-gateway", "ai-gateway.vercel.sh", "/v1/chat/completions", "spacexai/grok-4.3", "...7eam", "none"},
	}, rows)
	for _, secret := range []string{"demo", "sk-", "vck-"} {
		assert.NotContains(t, out.String(), secret, "only the last 4 characters of a key are printed")
	}
}
