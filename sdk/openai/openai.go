// Package byokopenai sends requests of the official OpenAI Go SDK
// (github.com/openai/openai-go/v3) with a credential byok resolved: to OpenAI, OpenRouter,
// xAI or the Vercel AI Gateway, on the user's key or the team's.
//
//	p, _, err := r.Resolve(ctx, userID, resolve.WithModel("gpt-5"))
//	if err != nil {
//		return err
//	}
//	opts, err := byokopenai.RequestOptions(p, nil)
//	if err != nil {
//		return err
//	}
//	client := openai.NewClient(opts...)
//	completion, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
//		Model:    p.Model,
//		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
//	})
//
// The SDK reads OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID,
// OPENAI_ADMIN_KEY and OPENAI_CUSTOM_HEADERS from the environment by itself, the same
// variables a server keeps its own keys in. The options override every one of them,
// and the requests go through the Provider's guarded Transport, which sends only to the
// resolved host and replaces every credential header with the resolved key. The SDK is
// never given the key: it is set below the SDK, where no SDK logging sees it.
package byokopenai

import (
	"errors"
	"net/http"

	"github.com/openai/openai-go/v3/option"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

// ErrUnsupportedProvider is returned for a Provider the OpenAI SDK does not speak to:
// Anthropic (use package github.com/byok-go/byok/sdk/anthropic) or an unknown ID.
var ErrUnsupportedProvider = errors.New("byokopenai: provider is not served through openai-go")

// ErrNoCredential is returned for a Provider without a key or a base URL, such as the
// zero Provider a failed Resolve returns.
var ErrNoCredential = errors.New("byokopenai: provider holds no key or base URL")

// RequestOptions returns the options that make an openai-go client send its requests
// with p's key to p's base URL, and nowhere else. Give them to openai.NewClient (or to a
// single call), after any options of your own that set the base URL, key, organization,
// project or HTTP client, since later options win.
//
// base is the RoundTripper under p's guarded Transport: nil means
// [resolve.Provider.HTTPClient]'s, which dials public addresses only; with your own,
// you own dialing (see [resolve.Provider.Transport]).
func RequestOptions(p resolve.Provider, base http.RoundTripper) ([]option.RequestOption, error) {
	switch p.ID {
	case providers.OpenAI, providers.OpenRouter, providers.XAI, providers.Gateway:
	default:
		return nil, ErrUnsupportedProvider
	}
	if p.APIKey.IsZero() || p.BaseURL == "" {
		return nil, ErrNoCredential
	}
	// Transport(nil) is HTTPClient's guarded transport, so one client covers both cases.
	client := &http.Client{Transport: p.Transport(base)}
	return []option.RequestOption{
		option.WithBaseURL(p.BaseURL),
		option.WithHTTPClient(client),
		// Clear what DefaultClientOptions took from the server's environment: the key
		// is set by the Transport, and no organization or project belongs to it. The
		// Transport strips these headers too; clearing them here keeps them out of
		// the SDK's own middleware and logs.
		option.WithAPIKey(""),
		option.WithAdminAPIKey(""),
		option.WithOrganization(""),
		option.WithProject(""),
		option.WithHeaderDel("Authorization"),
		option.WithHeaderDel("Api-Key"),
		option.WithHeaderDel("X-Api-Key"),
		option.WithHeaderDel("OpenAI-Organization"),
		option.WithHeaderDel("OpenAI-Project"),
	}, nil
}
