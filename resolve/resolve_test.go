package resolve_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

func secret(s string) providers.Secret { return providers.NewSecret(s) }

func teamGateway(key, url string) resolve.Team {
	return resolve.Team{GatewayKey: secret(key), GatewayURL: url}
}

// The runbook's verification checklist, step by step.

func TestRunbook_1_UserGatewayBYOK(t *testing.T) {
	keys := resolvetest.NewKeys()
	require.NoError(t, keys.PutKey(t.Context(), user1, providers.Gateway, secret("vck-user-gw")))
	require.NoError(t, keys.PutGatewayBaseURL(t.Context(), user1, "https://AI-Gateway.vercel.sh/v1/"))
	keys.Put(user1, providers.OpenAI, "sk-user-openai") // the gateway key wins over it
	r := resolve.New(keys, resolvetest.NewConsent(true), teamGateway("vck-team", ""))

	p, path, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserGateway, path)
	assert.Equal(t, providers.Gateway, p.ID)
	assert.Equal(t, "vck-user-gw", p.APIKey.Reveal())
	assert.Equal(t, "https://ai-gateway.vercel.sh/v1", p.BaseURL)
	assert.Equal(t, resolve.SourceUser, p.BaseURLSource)

	// Without a stored base URL the default is used.
	require.NoError(t, keys.PutGatewayBaseURL(t.Context(), user1, ""))
	p, path, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserGateway, path)
	assert.Equal(t, "https://ai-gateway.vercel.sh/v1", p.BaseURL)
	assert.Equal(t, resolve.SourceDefault, p.BaseURLSource)
}

func TestRunbook_2_ProviderBYOK(t *testing.T) {
	for _, id := range providers.DefaultOrder() {
		t.Run(string(id), func(t *testing.T) {
			keys := resolvetest.NewKeys()
			require.NoError(t, keys.PutKey(t.Context(), user1, id, secret("user-key-"+string(id))))
			r := resolve.New(keys, resolvetest.NewConsent(true), teamGateway("vck-team", ""))

			p, path, err := r.Resolve(t.Context(), user1)
			require.NoError(t, err)
			spec, _ := id.Spec()
			assert.Equal(t, resolve.UserProvider, path)
			assert.Equal(t, id, p.ID)
			assert.Equal(t, "user-key-"+string(id), p.APIKey.Reveal())
			assert.Equal(t, spec.BaseURL, p.BaseURL)
			assert.Equal(t, resolve.SourceDefault, p.BaseURLSource)
		})
	}
}

func TestRunbook_3_TeamGatewayFallback(t *testing.T) {
	keys := resolvetest.NewKeys()
	consent := resolvetest.NewConsent(false)
	keys.Put(user1, providers.Gateway, "vck-user")
	keys.Put(user1, providers.Anthropic, "sk-ant-user")
	r := resolve.New(keys, consent, teamGateway("vck-team", "https://ai-gateway.vercel.sh/v1"))

	// Remove the user's keys, turn consent on.
	require.NoError(t, keys.DeleteKey(t.Context(), user1, providers.Gateway))
	require.NoError(t, keys.DeleteKey(t.Context(), user1, providers.Anthropic))
	require.NoError(t, consent.SetAllowGatewayFallback(t.Context(), user1, true))

	p, path, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, resolve.TeamGateway, path)
	assert.Equal(t, providers.Gateway, p.ID)
	assert.Equal(t, "vck-team", p.APIKey.Reveal())
	assert.Equal(t, "https://ai-gateway.vercel.sh/v1", p.BaseURL)
	assert.Equal(t, resolve.SourceTeam, p.BaseURLSource)
}

func TestRunbook_4_ConsentEnforcement(t *testing.T) {
	consent := resolvetest.NewConsent(true)
	require.NoError(t, consent.SetAllowGatewayFallback(t.Context(), user1, false))
	team := resolve.Team{
		GatewayKey: secret("vck-team"),
		ServerKeys: map[providers.ID]providers.Secret{providers.OpenAI: secret("sk-server")},
	}
	r := resolve.New(resolvetest.NewKeys(), consent, team)

	p, path, err := r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrFallbackDisabled)
	require.ErrorIs(t, err, resolve.ErrNoProvider)
	assert.Contains(t, err.Error(), "team fallback skipped because the user disabled it")
	assert.Empty(t, path)
	assert.True(t, p.APIKey.IsZero(), "no credential on error")
	var re *resolve.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "fallback_disabled", re.Code())
}

func TestResolve_order(t *testing.T) {
	all := map[providers.ID]string{
		providers.Gateway: "u-gw", providers.OpenAI: "u-oa", providers.OpenRouter: "u-or",
		providers.Anthropic: "u-an", providers.XAI: "u-xa",
	}
	fullTeam := resolve.Team{
		GatewayKey: secret("t-gw"),
		ServerKeys: map[providers.ID]providers.Secret{
			providers.OpenAI: secret("s-oa"), providers.Anthropic: secret("s-an"), providers.XAI: secret("s-xa"),
		},
	}
	serverOnly := resolve.Team{ServerKeys: map[providers.ID]providers.Secret{
		providers.XAI: secret("s-xa"), providers.Anthropic: secret("s-an"),
	}}
	tests := []struct {
		name     string
		userKeys []providers.ID
		team     resolve.Team
		consent  bool
		wantPath resolve.Path
		wantID   providers.ID
		wantKey  string
		wantErr  error
	}{
		{"gateway beats everything", []providers.ID{providers.Gateway, providers.OpenAI, providers.XAI}, fullTeam, true, resolve.UserGateway, providers.Gateway, "u-gw", nil},
		{"openai first of providers", []providers.ID{providers.XAI, providers.OpenAI, providers.Anthropic}, fullTeam, true, resolve.UserProvider, providers.OpenAI, "u-oa", nil},
		{"openrouter before anthropic", []providers.ID{providers.Anthropic, providers.OpenRouter}, fullTeam, true, resolve.UserProvider, providers.OpenRouter, "u-or", nil},
		{"anthropic before xai", []providers.ID{providers.XAI, providers.Anthropic}, fullTeam, true, resolve.UserProvider, providers.Anthropic, "u-an", nil},
		{"xai alone", []providers.ID{providers.XAI}, fullTeam, true, resolve.UserProvider, providers.XAI, "u-xa", nil},
		{"user key needs no consent", []providers.ID{providers.XAI}, fullTeam, false, resolve.UserProvider, providers.XAI, "u-xa", nil},
		{"user gateway needs no consent", []providers.ID{providers.Gateway}, resolve.Team{}, false, resolve.UserGateway, providers.Gateway, "u-gw", nil},
		{"team gateway before server keys", nil, fullTeam, true, resolve.TeamGateway, providers.Gateway, "t-gw", nil},
		{"server keys in order", nil, serverOnly, true, resolve.ServerProvider, providers.Anthropic, "s-an", nil},
		{"team gateway needs consent", nil, fullTeam, false, "", "", "", resolve.ErrFallbackDisabled},
		{"server keys need consent", nil, serverOnly, false, "", "", "", resolve.ErrFallbackDisabled},
		{"nothing at all", nil, resolve.Team{}, true, "", "", "", resolve.ErrNoProvider},
		{"nothing at all, consent off", nil, resolve.Team{}, false, "", "", "", resolve.ErrNoProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := resolvetest.NewKeys()
			for _, id := range tt.userKeys {
				keys.Put(user1, id, all[id])
			}
			keys.Put(user2, providers.OpenAI, "other-user") // never served to user1
			consent := resolvetest.NewConsent(true)
			consent.Set(user1, tt.consent)
			r := resolve.New(keys, consent, tt.team)

			p, path, err := r.Resolve(t.Context(), user1)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Empty(t, path)
				assert.Equal(t, resolve.Provider{}, p)
				if tt.name == "nothing at all, consent off" {
					assert.NotErrorIs(t, err, resolve.ErrFallbackDisabled, "nothing was skipped")
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantPath, path)
			assert.Equal(t, tt.wantID, p.ID)
			assert.Equal(t, tt.wantKey, p.APIKey.Reveal())
			assert.NotEmpty(t, p.BaseURL)
		})
	}
}

func TestResolve_withOrder(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "u-oa")
	keys.Put(user1, providers.XAI, "u-xa")
	team := resolve.Team{ServerKeys: map[providers.ID]providers.Secret{
		providers.OpenAI: secret("s-oa"), providers.Anthropic: secret("s-an"),
	}}
	r := resolve.New(keys, resolvetest.NewConsent(true), team,
		resolve.WithOrder(providers.XAI, providers.Anthropic, providers.OpenAI))

	p, path, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserProvider, path)
	assert.Equal(t, providers.XAI, p.ID)

	p, path, err = r.Resolve(t.Context(), user2)
	require.NoError(t, err)
	assert.Equal(t, resolve.ServerProvider, path)
	assert.Equal(t, providers.Anthropic, p.ID, "the order applies to server keys too")

	// A provider left out of the order is never used.
	only := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithOrder(providers.Anthropic))
	_, _, err = only.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrNoProvider)
}

func TestResolve_consentIsLazy(t *testing.T) {
	t.Run("not read when a user key applies", func(t *testing.T) {
		keys := resolvetest.NewKeys()
		keys.Put(user1, providers.OpenRouter, "u-or")
		consent := resolvetest.NewConsent(true)
		r := resolve.New(keys, consent, teamGateway("t-gw", ""))
		_, _, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		assert.Equal(t, 0, consent.Calls())
	})
	t.Run("not read when the team has nothing", func(t *testing.T) {
		consent := resolvetest.NewConsent(false)
		r := resolve.New(resolvetest.NewKeys(), consent, resolve.Team{})
		_, _, err := r.Resolve(t.Context(), user1)
		require.ErrorIs(t, err, resolve.ErrNoProvider)
		assert.NotErrorIs(t, err, resolve.ErrFallbackDisabled)
		assert.Equal(t, 0, consent.Calls())
	})
	t.Run("read once when a team credential exists", func(t *testing.T) {
		consent := resolvetest.NewConsent(true)
		r := resolve.New(resolvetest.NewKeys(), consent, teamGateway("t-gw", ""))
		_, path, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		assert.Equal(t, resolve.TeamGateway, path)
		assert.Equal(t, 1, consent.Calls())
	})
	t.Run("absent consent is the database default, true", func(t *testing.T) {
		s := &scripted{consentErr: resolve.ErrNotFound, teamKey: "t-gw"}
		r := resolve.New(s, s, s)
		_, path, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		assert.Equal(t, resolve.TeamGateway, path)
	})
}

func TestResolve_absentFallsThrough(t *testing.T) {
	// Empty values with a nil error count as absent, like ErrNotFound.
	s := &scripted{keys: map[providers.ID]string{providers.Gateway: "  ", providers.OpenAI: ""},
		serverKeys: map[providers.ID]string{providers.OpenAI: ""}, teamKey: "t-gw", consent: true}
	r := resolve.New(s, s, s)
	p, path, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, resolve.TeamGateway, path)
	assert.Equal(t, "t-gw", p.APIKey.Reveal())
}

// Every store failure stops resolution: no team credential, the cause kept but never printed.
func TestResolve_failsClosed(t *testing.T) {
	base := func() *scripted {
		return &scripted{teamKey: "t-gw", serverKeys: map[providers.ID]string{providers.OpenAI: "s-oa"}, consent: true}
	}
	tests := []struct {
		name  string
		setup func(s *scripted)
		step  string
	}{
		{"user gateway key", func(s *scripted) { s.keyErr = map[providers.ID]error{providers.Gateway: errCanary} }, resolve.StepUserGateway},
		{"user gateway base URL", func(s *scripted) {
			s.keys = map[providers.ID]string{providers.Gateway: "u-gw"}
			s.baseURLErr = errCanary
		}, resolve.StepUserGateway},
		{"first provider key", func(s *scripted) { s.keyErr = map[providers.ID]error{providers.OpenAI: errCanary} }, resolve.StepUserProvider},
		{"last provider key", func(s *scripted) { s.keyErr = map[providers.ID]error{providers.XAI: errCanary} }, resolve.StepUserProvider},
		{"team gateway", func(s *scripted) { s.teamErr = errCanary }, resolve.StepTeamGateway},
		{"server key", func(s *scripted) { s.teamKey = ""; s.serverErr = errCanary }, resolve.StepServerProvider},
		{"consent", func(s *scripted) { s.consentErr = errCanary }, resolve.StepConsent},
		{"consent deadline of the store's own", func(s *scripted) { s.consentErr = context.DeadlineExceeded }, resolve.StepConsent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.setup(s)
			sr, tracing := newTracing(t)
			r := resolve.New(s, s, s, tracing)

			p, path, err := r.Resolve(t.Context(), user1)
			require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
			assert.NotErrorIs(t, err, resolve.ErrNoProvider)
			assert.Empty(t, path)
			assert.Equal(t, resolve.Provider{}, p)
			var re *resolve.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.step, re.Step)
			assert.Equal(t, "store_unavailable", re.Code())
			if s.consentErr != context.DeadlineExceeded {
				assert.ErrorIs(t, err, errCanary, "the cause stays reachable")
			}
			assert.NotContains(t, err.Error(), canaryCause)

			span := onlySpan(t, sr)
			assert.Equal(t, codes.Error, span.Status().Code)
			assert.Equal(t, err.Error(), span.Status().Description)
			assert.NotContains(t, span.Status().Description, canaryCause)
			assert.Equal(t, "store_unavailable", spanAttrs(span)["error.type"])
			assert.NotContains(t, spanAttrs(span), "path")
		})
	}
}

func TestResolve_failsClosedWithFakes(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.FailWith(errCanary)
	r := resolve.New(keys, resolvetest.NewConsent(true), teamGateway("t-gw", ""))
	_, _, err := r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
	assert.NotContains(t, err.Error(), canaryCause)

	keys.FailWith(nil)
	_, path, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err, "FailWith(nil) clears the failure")
	assert.Equal(t, resolve.TeamGateway, path)

	consent := resolvetest.NewConsent(true)
	consent.FailWith(errCanary)
	r = resolve.New(resolvetest.NewKeys(), consent, teamGateway("t-gw", ""))
	_, _, err = r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
}

func TestResolve_userBaseURLPolicy(t *testing.T) {
	unsafe := map[string]string{
		"http://ai-gateway.vercel.sh/v1":          providers.ReasonNonHTTPS,
		"https://169.254.169.254/latest":          providers.ReasonPrivateHost,
		"https://[::ffff:127.0.0.1]/v1":           providers.ReasonPrivateHost,
		"https://evil.example.com/v1":             providers.ReasonHostNotAllowed,
		"https://u:p@ai-gateway.vercel.sh/v1":     providers.ReasonCredentials,
		"https://ai-gateway.vercel.sh:8443/v1":    providers.ReasonPortNotAllowed,
		"https://ai-gateway.vercel.sh/v1?token=x": providers.ReasonQueryOrFragment,
		"::not a url::":                           providers.ReasonInvalidURL,
	}
	for raw, reason := range unsafe {
		t.Run(raw, func(t *testing.T) {
			keys := resolvetest.NewKeys()
			keys.Put(user1, providers.Gateway, "u-gw")
			keys.Put(user1, providers.OpenAI, "u-oa") // must not be used instead
			keys.SetGatewayBaseURL(user1, raw)        // planted past the write-time check
			consent := resolvetest.NewConsent(true)
			r := resolve.New(keys, consent, teamGateway("t-gw", ""))

			p, path, err := r.Resolve(t.Context(), user1)
			require.ErrorIs(t, err, resolve.ErrBaseURLRejected)
			require.ErrorIs(t, err, providers.ErrGatewayURL)
			assert.NotErrorIs(t, err, resolve.ErrNoProvider)
			assert.Empty(t, path)
			assert.Equal(t, resolve.Provider{}, p)
			var re *resolve.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, resolve.StepUserGateway, re.Step)
			assert.Equal(t, reason, re.Reason)
			assert.NotContains(t, err.Error(), raw)
			assert.Equal(t, 0, consent.Calls(), "no later path was tried")
		})
	}
}

func TestResolve_allowedGatewayHosts(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.Gateway, "u-gw")
	keys.SetGatewayBaseURL(user1, "https://GW.Example.com/v1/")
	team := teamGateway("t-gw", "https://team-gw.example.com/openai/")

	strict := resolve.New(keys, resolvetest.NewConsent(true), team)
	_, _, err := strict.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrBaseURLRejected)
	_, _, err = strict.Resolve(t.Context(), user2)
	require.ErrorIs(t, err, resolve.ErrBaseURLRejected, "team URL checked too")

	r := resolve.New(keys, resolvetest.NewConsent(true), team,
		resolve.WithAllowedGatewayHosts("gw.example.com"), resolve.WithAllowedGatewayHosts(" TEAM-GW.example.com "))
	p, path, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserGateway, path)
	assert.Equal(t, "https://gw.example.com/v1", p.BaseURL)
	assert.Equal(t, resolve.SourceUser, p.BaseURLSource)

	p, path, err = r.Resolve(t.Context(), user2)
	require.NoError(t, err)
	assert.Equal(t, resolve.TeamGateway, path)
	assert.Equal(t, "https://team-gw.example.com/openai", p.BaseURL)
	assert.Equal(t, resolve.SourceTeam, p.BaseURLSource)
}

func TestResolve_teamBaseURLPolicy(t *testing.T) {
	team := resolve.Team{
		GatewayKey: secret("t-gw"), GatewayURL: "https://10.0.0.8/v1",
		ServerKeys: map[providers.ID]providers.Secret{providers.OpenAI: secret("s-oa")},
	}
	consent := resolvetest.NewConsent(true)
	consent.Set(user2, false)
	r := resolve.New(resolvetest.NewKeys(), consent, team)

	_, _, err := r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrBaseURLRejected, "no fall-through to the server keys")
	var re *resolve.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, resolve.StepTeamGateway, re.Step)
	assert.Equal(t, providers.ReasonPrivateHost, re.Reason)

	_, _, err = r.Resolve(t.Context(), user2)
	require.ErrorIs(t, err, resolve.ErrFallbackDisabled, "path 3 is not reached without consent")
}

func TestResolve_badInput(t *testing.T) {
	t.Run("empty user id", func(t *testing.T) {
		for _, id := range []string{"", "  ", "\t"} {
			keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
			r := resolve.New(keys, consent, teamGateway("t-gw", ""))
			_, _, err := r.Resolve(t.Context(), id)
			require.ErrorIs(t, err, resolve.ErrInvalidUserID)
			assert.Equal(t, 0, keys.Calls()+consent.Calls(), "no store call")
		}
	})
	t.Run("malformed model hint", func(t *testing.T) {
		for _, hint := range []string{"openai/", "/gpt-4o", "gpt 4o", "a/b\x00", strings.Repeat("m", 300)} {
			keys := resolvetest.NewKeys()
			r := resolve.New(keys, resolvetest.NewConsent(true), teamGateway("t-gw", ""))
			_, _, err := r.Resolve(t.Context(), user1, resolve.WithModel(hint))
			require.ErrorIs(t, err, resolve.ErrInvalidModel, "%q", hint)
			assert.Equal(t, 0, keys.Calls())
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		keys := resolvetest.NewKeys()
		keys.Put(user1, providers.OpenAI, "u-oa")
		r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, _, err := r.Resolve(ctx, user1)
		require.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, resolve.ErrNoProvider)
		assert.Equal(t, 0, keys.Calls())
	})
	t.Run("expired context", func(t *testing.T) {
		r := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), resolve.Team{})
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		_, _, err := r.Resolve(ctx, user1)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("invalid configuration never panics", func(t *testing.T) {
		for name, r := range map[string]*resolve.Resolver{
			"nil keys":          resolve.New(nil, resolvetest.NewConsent(true), nil),
			"nil consent":       resolve.New(resolvetest.NewKeys(), nil, nil),
			"empty order":       resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), nil, resolve.WithOrder()),
			"duplicate":         resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), nil, resolve.WithOrder(providers.OpenAI, providers.OpenAI)),
			"gateway in order":  resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), nil, resolve.WithOrder(providers.Gateway)),
			"unknown in order":  resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), nil, resolve.WithOrder("google")),
			"private host":      resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), nil, resolve.WithAllowedGatewayHosts("localhost")),
			"URL as host":       resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), nil, resolve.WithAllowedGatewayHosts("https://gw.example.com")),
			"host with port":    resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), nil, resolve.WithAllowedGatewayHosts("gw.example.com:8443")),
			"IP literal host":   resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), nil, resolve.WithAllowedGatewayHosts("10.0.0.1")),
			"typed nil options": resolve.New(resolvetest.NewKeys(), nil, nil, nil),
		} {
			_, _, err := r.Resolve(t.Context(), user1)
			require.ErrorIs(t, err, resolve.ErrInvalidConfig, name)
			r.Invalidate(user1) // never panics either
		}
	})
}

// A store that hangs is abandoned as soon as the caller's context ends.
func TestResolve_hangingStoreHonoursContext(t *testing.T) {
	s := &scripted{block: make(chan struct{})}
	r := resolve.New(s, s, s)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, _, err := r.Resolve(ctx, user1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, resolve.ErrStoreUnavailable, "the caller's own deadline is not an outage")
	var re *resolve.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "deadline_exceeded", re.Code())
}

func TestResolve_modelHints(t *testing.T) {
	only := func(ids ...providers.ID) func() *resolvetest.Keys {
		return func() *resolvetest.Keys {
			k := resolvetest.NewKeys()
			for _, id := range ids {
				k.Put(user1, id, "u-"+string(id))
			}
			return k
		}
	}
	gatewayKey := only(providers.Gateway)
	vendorKeys := only(providers.OpenAI, providers.Anthropic, providers.XAI)
	allFour := only(providers.DefaultOrder()...)
	tests := []struct {
		name      string
		keys      func() *resolvetest.Keys
		hint      string
		wantID    providers.ID
		wantModel string
		wantErr   error
	}{
		{"no hint", vendorKeys, "", providers.OpenAI, "", nil},
		{"anthropic over openai", vendorKeys, "anthropic/claude-sonnet-4.5", providers.Anthropic, "claude-sonnet-4-5", nil},
		{"bare claude", vendorKeys, "claude-sonnet-4.5", providers.Anthropic, "claude-sonnet-4-5", nil},
		{"bare grok", vendorKeys, "grok-4", providers.XAI, "grok-4", nil},
		{"openai vendor", vendorKeys, "openai/gpt-4o", providers.OpenAI, "gpt-4o", nil},
		{"bare gpt", vendorKeys, "gpt-4o-mini", providers.OpenAI, "gpt-4o-mini", nil},
		{"bare o3", vendorKeys, "o3-mini", providers.OpenAI, "o3-mini", nil},
		{"vendor case folded", vendorKeys, "Anthropic/claude-opus-4", providers.Anthropic, "claude-opus-4", nil},
		{"unknown vendor: no vendor API serves it", vendorKeys, "mystery-model-1", "", "", resolve.ErrNoProvider},
		{"a vendor's model known from the catalog: no vendor API of ours", vendorKeys, "llama-3.1-8b", "", "", resolve.ErrNoProvider},
		{"openrouter, earlier in the order, serves anthropic too", allFour, "claude-sonnet-4.5", providers.OpenRouter, "anthropic/claude-sonnet-4.5", nil},
		{"other vendor: only openrouter", allFour, "google/gemini-2.5-pro", providers.OpenRouter, "google/gemini-2.5-pro", nil},
		{"openrouter prefixes vendor", only(providers.OpenRouter), "claude-sonnet-4.5", providers.OpenRouter, "anthropic/claude-sonnet-4.5", nil},
		{"openrouter skips unknown bare", only(providers.OpenRouter), "mystery-model-1", "", "", resolve.ErrNoProvider},
		{"openrouter gets the catalog's vendor", only(providers.OpenRouter), "llama-3.1-8b", providers.OpenRouter, "meta/llama-3.1-8b", nil},
		{"openrouter keeps nested id", only(providers.OpenRouter), "meta-llama/llama-3.1-8b", providers.OpenRouter, "meta-llama/llama-3.1-8b", nil},
		{"gateway prefixes vendor", gatewayKey, "gpt-4o", providers.Gateway, "openai/gpt-4o", nil},
		{"gateway keeps vendor/model", gatewayKey, "google/gemini-2.5-pro", providers.Gateway, "google/gemini-2.5-pro", nil},
		{"gateway's xAI slug", gatewayKey, "xai/grok-4", providers.Gateway, "spacexai/grok-4", nil},
		{"gateway keeps unknown bare", gatewayKey, "mystery-model-1", providers.Gateway, "mystery-model-1", nil},
		{"no provider serves it", only(providers.OpenAI, providers.XAI), "anthropic/claude-opus-4", "", "", resolve.ErrNoProvider},
		{"trimmed hint", vendorKeys, "  grok-4 ", providers.XAI, "grok-4", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resolve.New(tt.keys(), resolvetest.NewConsent(true), resolve.Team{})
			var opts []resolve.CallOption
			if tt.hint != "" {
				opts = append(opts, resolve.WithModel(tt.hint))
			}
			p, _, err := r.Resolve(t.Context(), user1, opts...)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantID, p.ID)
			assert.Equal(t, tt.wantModel, p.Model)
		})
	}
}

func TestResolve_modelHintsOnTeamPaths(t *testing.T) {
	team := resolve.Team{ServerKeys: map[providers.ID]providers.Secret{
		providers.OpenAI: secret("s-oa"), providers.XAI: secret("s-xa"),
	}}
	r := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), team)
	p, path, err := r.Resolve(t.Context(), user1, resolve.WithModel("grok-4"))
	require.NoError(t, err)
	assert.Equal(t, resolve.ServerProvider, path)
	assert.Equal(t, providers.XAI, p.ID, "server keys skip providers that cannot serve the model")
	assert.Equal(t, "grok-4", p.Model)

	_, _, err = r.Resolve(t.Context(), user1, resolve.WithModel("anthropic/claude-opus-4"))
	require.ErrorIs(t, err, resolve.ErrNoProvider)

	gw := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), teamGateway("t-gw", ""))
	p, path, err = gw.Resolve(t.Context(), user1, resolve.WithModel("claude-opus-4"))
	require.NoError(t, err)
	assert.Equal(t, resolve.TeamGateway, path)
	assert.Equal(t, "anthropic/claude-opus-4", p.Model)
}

func TestTeamFromEnv(t *testing.T) {
	t.Setenv("AI_GATEWAY_API_KEY", "  vck-team  ")
	t.Setenv("AI_GATEWAY_URL", " https://ai-gateway.vercel.sh/v1 ")
	t.Setenv("OPENAI_API_KEY", "sk-server-openai")
	t.Setenv("OPENROUTER_API_KEY", "   ")
	t.Setenv("ANTHROPIC_API_KEY", "")
	t.Setenv("XAI_API_KEY", "xai-server")

	team := resolve.TeamFromEnv()
	assert.Equal(t, "vck-team", team.GatewayKey.Reveal())
	assert.Equal(t, "https://ai-gateway.vercel.sh/v1", team.GatewayURL)
	assert.Equal(t, "sk-server-openai", team.ServerKeys[providers.OpenAI].Reveal())
	assert.Equal(t, "xai-server", team.ServerKeys[providers.XAI].Reveal())
	assert.NotContains(t, team.ServerKeys, providers.OpenRouter, "white space is unset")
	assert.NotContains(t, team.ServerKeys, providers.Anthropic)

	_, err := team.ServerKey(t.Context(), providers.Anthropic)
	require.ErrorIs(t, err, resolve.ErrNotFound)

	t.Setenv("AI_GATEWAY_API_KEY", " \t ")
	_, _, err = resolve.TeamFromEnv().TeamGateway(t.Context())
	require.ErrorIs(t, err, resolve.ErrNotFound)
}

func TestTeamFromLookup(t *testing.T) {
	vars := map[string]string{"AI_GATEWAY_API_KEY": "vck-lookup", "XAI_API_KEY": " xai-lookup "}
	team := resolve.TeamFromLookup(func(k string) string { return vars[k] })
	assert.Equal(t, "vck-lookup", team.GatewayKey.Reveal())
	assert.Empty(t, team.GatewayURL)
	assert.Equal(t, "xai-lookup", team.ServerKeys[providers.XAI].Reveal())
	assert.Len(t, team.ServerKeys, 1)
}

func TestProvider_Authorize(t *testing.T) {
	for _, id := range providers.All() {
		t.Run(string(id), func(t *testing.T) {
			h := http.Header{}
			h.Set("Authorization", "Bearer stale-key")
			h.Set("X-Api-Key", "stale-key")
			resolve.Provider{ID: id, APIKey: secret("k-" + string(id))}.Authorize(h)
			if id == providers.Anthropic {
				assert.Equal(t, "k-anthropic", h.Get("x-api-key"))
				assert.Equal(t, "2023-06-01", h.Get("anthropic-version"))
				assert.Empty(t, h.Values("Authorization"))
				return
			}
			assert.Equal(t, "Bearer k-"+string(id), h.Get("Authorization"))
			assert.Empty(t, h.Values("X-Api-Key"))
		})
	}
	h := http.Header{"Authorization": {"Bearer stale"}}
	resolve.Provider{ID: providers.OpenAI}.Authorize(h)
	assert.Empty(t, h.Values("Authorization"), "no key: nothing sent")
}

func TestError_text(t *testing.T) {
	err := &resolve.Error{Step: resolve.StepUserGateway, Kind: resolve.ErrBaseURLRejected, Reason: "private_host", Cause: errCanary}
	assert.Equal(t, "resolve user-gateway: gateway base URL rejected (private_host)", err.Error())
	assert.True(t, errors.Is(err, providers.ErrGatewayURL))
	assert.True(t, errors.Is(err, errCanary))
	assert.Equal(t, "base_url_rejected", err.Code())
}

// Every kind has its documented code, and anything else is "error".
func TestError_codes(t *testing.T) {
	for kind, code := range map[error]string{
		resolve.ErrKeyBroken:        "key_broken",
		resolve.ErrFallbackDisabled: "fallback_disabled",
		resolve.ErrNoProvider:       "no_provider",
		resolve.ErrStoreUnavailable: "store_unavailable",
		resolve.ErrBaseURLRejected:  "base_url_rejected",
		resolve.ErrInvalidUserID:    "invalid_user_id",
		resolve.ErrInvalidModel:     "invalid_model",
		gateway.ErrInvalidOptions:   "invalid_gateway_options",
		resolve.ErrInvalidConfig:    "invalid_config",
		context.Canceled:            "canceled",
		context.DeadlineExceeded:    "deadline_exceeded",
		resolve.ErrNotFound:         "error",
		errCanary:                   "error",
	} {
		assert.Equal(t, code, (&resolve.Error{Step: resolve.StepInput, Kind: kind}).Code(), "%v", kind)
	}
}

// Remembering accepted URLs must not let a rejected one through on a later call.
func TestResolve_urlPolicyIsStableAcrossCalls(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.Gateway, "u-gw")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{})
	for i, tc := range []struct {
		url     string
		wantErr bool
	}{
		{"https://10.0.0.1/v1", true},
		{"https://10.0.0.1/v1", true},
		{"https://ai-gateway.vercel.sh/v1/", false},
		{"https://ai-gateway.vercel.sh/v1/", false},
		{"https://ai-gateway.vercel.sh:8443/v1", true},
		{"https://ai-gateway.vercel.sh/v1/", false},
	} {
		keys.SetGatewayBaseURL(user1, tc.url)
		p, _, err := r.Resolve(t.Context(), user1)
		if tc.wantErr {
			require.ErrorIs(t, err, resolve.ErrBaseURLRejected, "call %d", i)
			continue
		}
		require.NoError(t, err, "call %d", i)
		assert.Equal(t, "https://ai-gateway.vercel.sh/v1", p.BaseURL)
	}
}
