// Package byokanthropic sends requests of the official Anthropic Go SDK
// (github.com/anthropics/anthropic-sdk-go) with an Anthropic credential byok resolved,
// the user's key or the team's.
//
//	p, _, err := r.Resolve(ctx, userID, resolve.WithModel("claude-sonnet-4.5"))
//	if err != nil {
//		return err
//	}
//	opts, err := byokanthropic.RequestOptions(p, nil)
//	if err != nil {
//		return err // not an Anthropic credential: use another adapter
//	}
//	client := anthropic.NewClient(opts...)
//	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
//		Model:     p.Model, // "claude-sonnet-4-5"
//		MaxTokens: 1024,
//		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
//	})
//
// The SDK reads ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, ANTHROPIC_BASE_URL,
// ANTHROPIC_PROFILE, its federation variables and profile files by itself, the same
// place a server keeps its own key. The options turn all of that off
// (option.WithoutEnvironmentDefaults), and the requests go through the Provider's
// guarded Transport, which sends only to the resolved host and replaces every
// credential header with the resolved key. The SDK is never given the key: it is set
// below the SDK, where no SDK logging sees it.
package byokanthropic

import (
	"errors"
	"net/http"

	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

// ErrUnsupportedProvider is returned for a Provider other than Anthropic: use package
// github.com/byok-go/byok/sdk/openai for the gateway, OpenAI, OpenRouter and xAI.
var ErrUnsupportedProvider = errors.New("byokanthropic: provider is not served through anthropic-sdk-go")

// ErrNoCredential is returned for a Provider without a key or a base URL, such as the
// zero Provider a failed Resolve returns.
var ErrNoCredential = errors.New("byokanthropic: provider holds no key or base URL")

// RequestOptions returns the options that make an anthropic-sdk-go client send its
// requests with p's key to p's base URL (https://api.anthropic.com, to which the SDK
// adds /v1/messages), and nowhere else. Give them to anthropic.NewClient: the option
// that turns off the SDK's environment defaults works there only.
//
// base is the RoundTripper under p's guarded Transport: nil means
// [resolve.Provider.HTTPClient]'s, which dials public addresses only; with your own,
// you own dialing (see [resolve.Provider.Transport]).
func RequestOptions(p resolve.Provider, base http.RoundTripper) ([]option.RequestOption, error) {
	if p.ID != providers.Anthropic {
		return nil, ErrUnsupportedProvider
	}
	if p.APIKey.IsZero() || p.BaseURL == "" {
		return nil, ErrNoCredential
	}
	// Transport(nil) is HTTPClient's guarded transport, so one client covers both cases.
	client := &http.Client{Transport: p.Transport(base)}
	return []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(p.BaseURL),
		option.WithHTTPClient(client),
	}, nil
}
