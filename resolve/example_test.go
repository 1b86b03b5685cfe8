package resolve_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

func ExampleResolver_Resolve() {
	keys := resolvetest.NewKeys()
	keys.Put("user-1", providers.OpenAI, "sk-example")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{})

	p, path, err := r.Resolve(context.Background(), "user-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(path, p.ID, p.BaseURL, p.APIKey)
	// Output: user-provider openai https://api.openai.com/v1 [REDACTED]
}

func ExampleResolver_Resolve_teamFallback() {
	team := resolve.Team{GatewayKey: providers.NewSecret("vck-team-example")}
	consent := resolvetest.NewConsent(true) // the database default: users consent
	consent.Set("strict-user", false)
	r := resolve.New(resolvetest.NewKeys(), consent, team)

	p, path, err := r.Resolve(context.Background(), "user-1")
	fmt.Println(path, p.ID, p.BaseURLHost(), err)

	_, _, err = r.Resolve(context.Background(), "strict-user")
	fmt.Println(errors.Is(err, resolve.ErrFallbackDisabled), errors.Is(err, resolve.ErrNoProvider))
	fmt.Println(err)
	// Output:
	// team-gateway gateway ai-gateway.vercel.sh <nil>
	// true true
	// resolve consent: no provider available: team fallback skipped because the user disabled it
}

func ExampleWithModel() {
	keys := resolvetest.NewKeys()
	keys.Put("user-1", providers.OpenAI, "sk-example")
	keys.Put("user-1", providers.Anthropic, "sk-ant-example")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{})

	p, _, _ := r.Resolve(context.Background(), "user-1", resolve.WithModel("anthropic/claude-sonnet-4.5"))
	fmt.Println(p.ID, p.Model) // Anthropic's own API spells versions with hyphens

	gw := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), resolve.Team{GatewayKey: providers.NewSecret("vck-team")})
	for _, hint := range []string{"claude-sonnet-4-5", "x-ai/grok-4.3", "gemini-2.5-pro"} {
		p, _, _ = gw.Resolve(context.Background(), "user-1", resolve.WithModel(hint))
		fmt.Println(p.ID, p.Model)
	}
	// Output:
	// anthropic claude-sonnet-4-5
	// gateway anthropic/claude-sonnet-4.5
	// gateway spacexai/grok-4.3
	// gateway google/gemini-2.5-pro
}

func ExampleProvider_Authorize() {
	keys := resolvetest.NewKeys()
	keys.Put("user-1", providers.Anthropic, "sk-ant-example")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{})
	p, _, _ := r.Resolve(context.Background(), "user-1")

	req, _ := newRequest(p.BaseURL + "/messages")
	p.Authorize(req.Header)
	fmt.Println(req.URL.Host, req.Header.Get("Anthropic-Version"), req.Header.Get("Authorization") == "")
	// Output: api.anthropic.com 2023-06-01 true
}
