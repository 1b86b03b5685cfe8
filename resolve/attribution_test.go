package resolve_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

var attribSecret = []byte("attribution-secret-for-tests-0123456789")

func pseudonym(t *testing.T, secret []byte, user string) string {
	t.Helper()
	p, ok := resolve.GatewayPseudonym(secret, user)
	require.True(t, ok, "pseudonym of %q", user)
	return p
}

// GatewayPseudonym is gateway.Pseudonym (gateway/pseudonym_test.go tests its rules),
// with the same bound on the secret as WithGatewayAttribution.
func TestGatewayPseudonym(t *testing.T) {
	short := attribSecret[:resolve.MinAttributionSecret-1]
	for _, c := range []struct {
		secret []byte
		user   string
	}{{attribSecret, user1}, {attribSecret, user2}, {attribSecret, "a"}, {short, user1}, {attribSecret, ""}} {
		p, ok := resolve.GatewayPseudonym(c.secret, c.user)
		wantP, wantOK := gateway.Pseudonym(c.secret, c.user)
		assert.Equal(t, wantP, p)
		assert.Equal(t, wantOK, ok)
		assert.Equal(t, len(c.secret) >= resolve.MinAttributionSecret && c.user != "", ok)
	}
}

// sentGateway is the providerOptions.gateway object of a request body, or nil.
func sentGateway(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var v struct {
		ProviderOptions struct {
			Gateway map[string]any `json:"gateway"`
		} `json:"providerOptions"`
	}
	if len(body) == 0 {
		return nil
	}
	require.NoError(t, json.Unmarshal(body, &v), string(body))
	return v.ProviderOptions.Gateway
}

func TestGatewayAttribution_teamPathsCarryThePseudonym(t *testing.T) {
	const body = `{"model":"m","messages":[]}`
	want := pseudonym(t, attribSecret, user1)
	for _, c := range []struct {
		name  string
		setup func(k *resolvetest.Keys)
		opts  []resolve.Option
		path  resolve.Path
		want  map[string]any
	}{
		{"team-gateway", func(*resolvetest.Keys) {}, nil, resolve.TeamGateway,
			map[string]any{"user": want, "quotaEntityId": want}},
		{"gateway-byok", func(k *resolvetest.Keys) { k.Put(user1, providers.Anthropic, byokCanary) },
			[]resolve.Option{resolve.WithGatewayBYOK()}, resolve.GatewayBYOK,
			map[string]any{"user": want, "quotaEntityId": want,
				"byok": map[string]any{"anthropic": []any{map[string]any{"apiKey": byokCanary}}}}},
		{"user-gateway", func(k *resolvetest.Keys) { k.Put(user1, providers.Gateway, "vck-user-own") }, nil, resolve.UserGateway, nil},
		{"user-provider", func(k *resolvetest.Keys) { k.Put(user1, providers.OpenAI, "sk-user-own") }, nil, resolve.UserProvider, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, cache := range []bool{false, true} {
				keys := resolvetest.NewKeys()
				c.setup(keys)
				opts := append([]resolve.Option{resolve.WithGatewayAttribution(attribSecret)}, c.opts...)
				if cache {
					opts = append(opts, resolve.WithCache(time.Hour))
				}
				r := resolve.New(keys, resolvetest.NewConsent(true), teamGateway(teamGatewayCanary, ""), opts...)
				for range 2 { // with a cache: a miss, then a hit
					p, path, err := r.Resolve(t.Context(), user1)
					require.NoError(t, err)
					require.Equal(t, c.path, path)
					base := &bodyBase{}
					_, err = send(t, p, base, http.MethodPost, "application/json", body)
					require.NoError(t, err)
					sent := base.last(t)
					assert.Equal(t, c.want, sentGateway(t, sent.body), "cache %v", cache)
					assert.NotContains(t, string(sent.body)+fmt.Sprint(sent.header)+sent.url, user1, "the raw id is never sent")
					if c.want != nil {
						assert.Equal(t, want, p.GatewayOptions().User)
						assert.Equal(t, want, p.GatewayOptions().QuotaEntityID)
					} else {
						assert.Zero(t, p.GatewayOptions())
					}
				}
			}
		})
	}
}

func TestGatewayAttribution_explicitOptionsWin(t *testing.T) {
	want := pseudonym(t, attribSecret, user1)
	resolveWith := func(t *testing.T, defaults gateway.Options, call ...resolve.CallOption) map[string]any {
		t.Helper()
		opts := []resolve.Option{resolve.WithGatewayAttribution(attribSecret), resolve.WithCache(time.Hour)}
		if !defaults.IsZero() {
			opts = append(opts, resolve.WithDefaultGatewayOptions(defaults))
		}
		p := teamGatewayProvider(t, opts, call...)
		base := &bodyBase{}
		_, err := send(t, p, base, http.MethodPost, "application/json", `{"model":"m"}`)
		require.NoError(t, err)
		return sentGateway(t, base.last(t).body)
	}

	got := resolveWith(t, gateway.Options{User: "app-user", Tags: []string{"chat"}})
	assert.Equal(t, map[string]any{"user": "app-user", "quotaEntityId": want, "tags": []any{"chat"}}, got,
		"a default User wins for user; quotaEntityId stays the pseudonym")

	got = resolveWith(t, gateway.Options{QuotaEntityID: "org-7"})
	assert.Equal(t, map[string]any{"user": want, "quotaEntityId": "org-7"}, got)

	got = resolveWith(t, gateway.Options{}, resolve.WithGatewayOptions(gateway.Options{User: "call-user", Tags: []string{"t"}}))
	assert.Equal(t, map[string]any{"user": "call-user", "quotaEntityId": want, "tags": []any{"t"}}, got,
		"a call's options keep the attribution where they set nothing")

	got = resolveWith(t, gateway.Options{User: "  "}, resolve.WithGatewayOptions(gateway.Options{Tags: []string{"t"}}))
	assert.Equal(t, map[string]any{"user": want, "quotaEntityId": want, "tags": []any{"t"}}, got,
		"a blank User is no User")
}

func TestGatewayAttribution_callOptionsOnEveryPath(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user2, providers.Gateway, "vck-user-own")
	r := resolve.New(keys, resolvetest.NewConsent(true), teamGateway(teamGatewayCanary, ""),
		resolve.WithGatewayAttribution(attribSecret), resolve.WithCache(time.Hour))
	call := resolve.WithGatewayOptions(gateway.Options{Tags: []string{"t"}})
	for range 2 {
		p, _, err := r.Resolve(t.Context(), user1, call)
		require.NoError(t, err)
		assert.Equal(t, pseudonym(t, attribSecret, user1), p.GatewayOptions().User)
		p, path, err := r.Resolve(t.Context(), user2, call)
		require.NoError(t, err)
		require.Equal(t, resolve.UserGateway, path)
		assert.Equal(t, gateway.Options{Tags: []string{"t"}}, p.GatewayOptions(), "a user path never carries it")
	}
}

func TestGatewayAttribution_keepsItsOwnCopyOfTheSecret(t *testing.T) {
	secret := append([]byte(nil), attribSecret...)
	opt := resolve.WithGatewayAttribution(secret)
	secret[0] ^= 0xff
	p := teamGatewayProvider(t, []resolve.Option{opt})
	assert.Equal(t, pseudonym(t, attribSecret, user1), p.GatewayOptions().User)
}

func TestGatewayAttribution_secretNeverPrinted(t *testing.T) {
	secret := []byte("attribution-canary-secret-9f2b7c41d0e6")
	p := teamGatewayProvider(t, []resolve.Option{resolve.WithGatewayAttribution(secret)})
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprint(p.GatewayOptions())} {
		assert.NotContains(t, s, string(secret))
		assert.NotContains(t, s, user1)
	}
}
