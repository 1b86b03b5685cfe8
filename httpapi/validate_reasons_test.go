package httpapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// The validate route passes the Validator's reasons through unchanged, including the
// ones read from the provider's error body. The Validator here is the real one, against
// a stand-in provider that answers a fixed error and echoes the key it was sent.
func TestValidate_reasonsFromTheProvidersAnswer(t *testing.T) {
	const canary = "sk-canary-validate-5e1c"
	for _, c := range []struct {
		name    string
		service providers.ID
		status  int
		body    string // %KEY% is replaced by the key the provider received
		reason  string
	}{
		{"openai out of credit", providers.OpenAI, 429,
			`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			providers.ReasonInsufficientCredit},
		{"openai restricted key", providers.OpenAI, 403,
			`{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: api.model.read.","type":"invalid_request_error","param":null,"code":null}}`,
			providers.ReasonPermissionDenied},
		{"openai invalid key", providers.OpenAI, 401,
			`{"error":{"message":"Incorrect API key provided: %KEY%.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			providers.ReasonInvalidKey},
		{"openai rate limit", providers.OpenAI, 429,
			`{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			providers.ReasonRateLimited},
		{"anthropic billing", providers.Anthropic, 402,
			`{"type":"error","error":{"type":"billing_error","message":"There's an issue with your billing or payment information."}}`,
			providers.ReasonInsufficientCredit},
		{"xai credits used up", providers.XAI, 403,
			`{"code":"The caller does not have permission to execute the specified operation","error":"Your team has either used all available credits or reached its monthly spending limit."}`,
			providers.ReasonInsufficientCredit},
		{"xai incorrect key", providers.XAI, 400,
			`{"code":"Client specified an invalid argument","error":"Incorrect API key provided: %KEY%. You can obtain an API key from https://console.x.ai."}`,
			providers.ReasonInvalidKey},
		{"openrouter no credit", providers.OpenRouter, 402,
			`{"error":{"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits","code":402}}`,
			providers.ReasonInsufficientCredit},
		{"gateway no payment method", providers.Gateway, 403,
			`{"error":{"message":"AI Gateway requires a valid credit card on file to service requests.","type":"customer_verification_required"}}`,
			providers.ReasonInsufficientCredit},
		{"provider down", providers.Anthropic, 529,
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			providers.ReasonNetworkError},
	} {
		t.Run(c.name, func(t *testing.T) {
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				if key == "" {
					key = r.Header.Get("X-Api-Key")
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, strings.ReplaceAll(c.body, "%KEY%", key))
			}))
			t.Cleanup(upstream.Close)
			h := validateReasonsHandler(&providers.Validator{BaseURLs: map[providers.ID]string{c.service: upstream.URL}})

			req := httptest.NewRequest(http.MethodPost, "/api/keys/validate",
				strings.NewReader(`{"service":"`+string(c.service)+`","apiKey":"`+canary+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer user:"+alice)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var got map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			assert.Equal(t, map[string]any{"isValid": false, "reason": c.reason}, got)
			assert.NotContains(t, rec.Body.String(), "canary")
		})
	}
}

// validateReasonsHandler is a handler over in-memory stores with v as its Validator.
func validateReasonsHandler(v httpapi.Validator) http.Handler {
	keys := resolvetest.NewKeys()
	consent := resolvetest.NewConsent(false)
	return httpapi.New(httpapi.Config{
		Keys:      keys,
		Consent:   consent,
		Resolver:  resolve.New(keys, consent, resolve.Team{}),
		Validator: v,
		Verify: func(r *http.Request) (httpapi.Claims, error) {
			user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer user:")
			if !ok || user == "" {
				return httpapi.Claims{}, errors.New("bad token")
			}
			return httpapi.Claims{UserID: user}, nil
		},
	})
}
