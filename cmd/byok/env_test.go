package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// jwt makes an unsigned legacy Supabase key with the given payload and a canary signature.
func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".canarysignature"
}

func TestCheckEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		status status
		want   string // in the details
		fix    string // in the fixes
	}{
		{"nothing set", nil, statusWarn, "AI_GATEWAY_API_KEY is not set", "set AI_GATEWAY_API_KEY"},
		{"team key", map[string]string{"AI_GATEWAY_API_KEY": "vck_canary"}, statusPass, "AI_GATEWAY_API_KEY is set", ""},
		{"team key with a space", map[string]string{"AI_GATEWAY_API_KEY": "vck canary"}, statusFail, "AI_GATEWAY_API_KEY is not a key byok accepts", "without quotes"},
		{"server key with a quote", map[string]string{"AI_GATEWAY_API_KEY": "k", "OPENAI_API_KEY": `"sk-canary"x`}, statusPass, "", ""},
		{"server key with a control", map[string]string{"AI_GATEWAY_API_KEY": "k", "XAI_API_KEY": "xai-canary\x01"}, statusFail, "XAI_API_KEY is not a key byok accepts", ""},
		{"server keys", map[string]string{"AI_GATEWAY_API_KEY": "k", "OPENAI_API_KEY": "sk-canary", "ANTHROPIC_API_KEY": "sk-ant-canary"}, statusPass, "server fallback keys well-formed: OPENAI_API_KEY, ANTHROPIC_API_KEY", ""},
		{"gateway url http", map[string]string{"AI_GATEWAY_API_KEY": "k", "AI_GATEWAY_URL": "http://canary.example.com/v1"}, statusFail, "AI_GATEWAY_URL breaks the gateway URL policy (non_https)", "https://"},
		{"gateway url credentials", map[string]string{"AI_GATEWAY_API_KEY": "k", "AI_GATEWAY_URL": "https://u:canary@ai-gateway.vercel.sh/v1"}, statusFail, "(credentials)", "remove user:password@"},
		{"gateway url private", map[string]string{"AI_GATEWAY_API_KEY": "k", "AI_GATEWAY_URL": "https://10.0.0.1/v1"}, statusFail, "(private_host)", ""},
		{"gateway url host not allowed", map[string]string{"AI_GATEWAY_API_KEY": "k", "AI_GATEWAY_URL": "https://canary.example.com/v1"}, statusFail, "(host_not_allowed)", "AI_GATEWAY_ALLOWED_HOSTS"},
		{"gateway url host allowed", map[string]string{"AI_GATEWAY_API_KEY": "k", "AI_GATEWAY_URL": "https://canary.example.com/v1", "AI_GATEWAY_ALLOWED_HOSTS": " other.example.com, CANARY.example.com"}, statusPass, "AI_GATEWAY_URL passes the gateway URL policy", ""},
		{"allowed host private", map[string]string{"AI_GATEWAY_API_KEY": "k", "AI_GATEWAY_ALLOWED_HOSTS": "canary.internal"}, statusFail, "AI_GATEWAY_ALLOWED_HOSTS: entry 1 is not a public host name", ""},
		{"secret key", map[string]string{"AI_GATEWAY_API_KEY": "k", "SUPABASE_SECRET_KEY": "sb_secret_canary"}, statusPass, "SUPABASE_SECRET_KEY is a secret key (sb_secret_...)", ""},
		{"publishable as service key", map[string]string{"AI_GATEWAY_API_KEY": "k", "SUPABASE_SERVICE_ROLE_KEY": "sb_publishable_canary"}, statusFail, "SUPABASE_SERVICE_ROLE_KEY is a publishable key (sb_publishable_...)", "secret key (sb_secret_...)"},
		{"publishable as secret key", map[string]string{"AI_GATEWAY_API_KEY": "k", "SUPABASE_SECRET_KEY": "sb_publishable_canary"}, statusFail, "SUPABASE_SECRET_KEY is a publishable key", ""},
		{"service role jwt", map[string]string{"AI_GATEWAY_API_KEY": "k", "SUPABASE_SERVICE_ROLE_KEY": jwt(`{"role":"service_role","ref":"canary"}`)}, statusPass, "legacy JWT with role service_role", ""},
		{"anon jwt", map[string]string{"AI_GATEWAY_API_KEY": "k", "SUPABASE_SERVICE_ROLE_KEY": jwt(`{"role":"anon","ref":"canary"}`)}, statusFail, "legacy JWT with role anon, not service_role", "API Keys"},
		{"authenticated jwt", map[string]string{"AI_GATEWAY_API_KEY": "k", "SUPABASE_SERVICE_ROLE_KEY": jwt(`{"role":"authenticated"}`)}, statusFail, "legacy JWT with role authenticated", ""},
		{"odd jwt role", map[string]string{"AI_GATEWAY_API_KEY": "k", "SUPABASE_SERVICE_ROLE_KEY": jwt(`{"role":"canary"}`)}, statusWarn, "unexpected role claim", ""},
		{"unreadable jwt", map[string]string{"AI_GATEWAY_API_KEY": "k", "SUPABASE_SERVICE_ROLE_KEY": "canary.canary!.canary"}, statusWarn, "no readable role claim", ""},
		{"other key", map[string]string{"AI_GATEWAY_API_KEY": "k", "SUPABASE_SERVICE_ROLE_KEY": "canary"}, statusWarn, "neither a secret key", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &doctor{getenv: func(k string) string { return tc.env[k] }}
			r := &result{id: "env"}
			d.checkEnv(t.Context(), r)
			assert.Equal(t, tc.status, r.status, "%q", r.detail)
			details, fixes := strings.Join(r.detail, "\n"), strings.Join(r.fix, "\n")
			assert.Contains(t, details, tc.want)
			assert.Contains(t, fixes, tc.fix)
			assert.NotContains(t, strings.ToLower(details+fixes), "canary", "a value was printed")
		})
	}
}

func TestRedactor(t *testing.T) {
	r := &redactor{}
	r.add("s3cr3t/pa ss")
	r.addPassword("postgres", "postgres")
	r.add("short")
	for _, in := range []string{"s3cr3t/pa ss", "s3cr3t%2Fpa+ss", "s3cr3t%2Fpa%20ss"} {
		assert.Equal(t, "x [redacted] y", r.scrub("x "+in+" y"))
		assert.Equal(t, "x [redacted] y", r.scrubOutput("x "+in+" y"))
	}
	// Weak secrets go from error texts only: the output names the postgres role.
	assert.Equal(t, `user "[redacted]" and [redacted]`, r.scrub(`user "postgres" and short`))
	assert.Equal(t, "role postgres, short", r.scrubOutput("role postgres, short"))
}

func TestParseTarget(t *testing.T) {
	r := &redactor{}
	tg, err := parseTarget("postgresql://postgres.ref:canary%2Fpw@aws-0-eu.pooler.supabase.com:6543/postgres?sslmode=require", "DATABASE_URL", r)
	if assert.NoError(t, err) {
		assert.Equal(t, "aws-0-eu.pooler.supabase.com:6543/postgres", tg.name)
		assert.True(t, tg.transactionPooler())
		assert.Equal(t, "[redacted]", r.scrub("canary/pw"))
	}
	_, err = parseTarget("postgresql://u:canary@[::1/x", "--db-url", r)
	assert.ErrorIs(t, err, errBadURL)
	assert.NotContains(t, err.Error(), "canary")
	_, err = parseTarget("", "", r)
	assert.ErrorIs(t, err, errNoURL)

	tg, err = parseTarget("host=/tmp port=5432 dbname=x user=postgres password=canarypw", "--db-url", r)
	if assert.NoError(t, err) {
		assert.Equal(t, "/tmp:5432/x", tg.name)
		assert.False(t, tg.transactionPooler())
	}
}
