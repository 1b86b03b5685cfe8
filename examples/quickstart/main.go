// Command quickstart resolves credentials for a handful of users with in-memory stores
// and prints which path, provider and base URL each one gets. It needs nothing
// external:
//
//	go run ./examples/quickstart
//
// The stores are the resolvetest fakes; a service would use the Supabase-backed stores
// (packages vault and consent) and resolve.TeamFromEnv instead.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// scenario is one row of the table: a user set up in the stores, resolved by r.
type scenario struct {
	name  string
	user  string
	r     *resolve.Resolver
	model string
}

func main() {
	ctx := context.Background()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	keys := resolvetest.NewKeys()
	keys.AllowGatewayHosts("gateway.example.com")
	consent := resolvetest.NewConsent(true) // the database default: users consent

	// Runbook 1: a user's own gateway key with a custom base URL.
	if err := keys.PutKey(ctx, "alice", providers.Gateway, providers.NewSecret("vck-alice-example")); err != nil {
		return err
	}
	if err := keys.PutGatewayBaseURL(ctx, "alice", "https://Gateway.Example.com/v1/"); err != nil {
		return err
	}
	// Runbook 2: a user's own provider key.
	if err := keys.PutKey(ctx, "bob", providers.Anthropic, providers.NewSecret("sk-ant-bob-example")); err != nil {
		return err
	}
	// Runbook 3: carol has no keys and consents (explicitly here; the default is on too).
	if err := consent.SetAllowGatewayFallback(ctx, "carol", true); err != nil {
		return err
	}
	// Runbook 4: dave has no keys and turned team fallback off.
	if err := consent.SetAllowGatewayFallback(ctx, "dave", false); err != nil {
		return err
	}
	// A base URL that slipped past the write-time check (say, an older row) is refused at
	// resolve time; the test helper SetGatewayBaseURL plants it without the check.
	keys.Put("erin", providers.Gateway, "vck-erin-example")
	keys.SetGatewayBaseURL("erin", "https://169.254.169.254/latest")

	// Frank and grace have their own provider keys; frank consents to team fallback,
	// grace does not. With WithGatewayBYOK, frank is served through the team gateway with
	// his key as per-request BYOK; grace stays on her own provider.
	if err := keys.PutKey(ctx, "frank", providers.Anthropic, providers.NewSecret("sk-ant-frank-example")); err != nil {
		return err
	}
	if err := keys.PutKey(ctx, "grace", providers.OpenAI, providers.NewSecret("sk-grace-example")); err != nil {
		return err
	}
	if err := consent.SetAllowGatewayFallback(ctx, "grace", false); err != nil {
		return err
	}

	team := resolve.Team{
		GatewayKey: providers.NewSecret("vck-team-example"), // AI_GATEWAY_API_KEY
		ServerKeys: map[providers.ID]providers.Secret{providers.OpenAI: providers.NewSecret("sk-server-example")},
	}
	opts := []resolve.Option{resolve.WithAllowedGatewayHosts("gateway.example.com")}
	r := resolve.New(keys, consent, team, opts...)

	// Without a team gateway key, consenting users fall back to the server's keys.
	serverOnly := resolve.New(keys, consent, resolve.Team{ServerKeys: team.ServerKeys}, opts...)

	// A key store that is down: resolution stops instead of spending the team's key.
	down := resolvetest.NewKeys()
	down.FailWith(errors.New("connection refused"))
	outage := resolve.New(down, consent, team, opts...)

	// The team gateway carries a consenting user's own provider key as per-request BYOK.
	viaGateway := resolve.New(keys, consent, team, append(opts, resolve.WithGatewayBYOK())...)

	rows := []scenario{
		{"1. user gateway BYOK (custom base URL)", "alice", r, ""},
		{"2. provider BYOK", "bob", r, ""},
		{"3. team gateway fallback (consent ON)", "carol", r, ""},
		{"4. consent enforcement (consent OFF)", "dave", r, ""},
		{"server provider fallback (consent ON)", "carol", serverOnly, ""},
		{"server provider, consent OFF", "dave", serverOnly, ""},
		{"key store outage fails closed", "carol", outage, ""},
		{"unsafe user base URL rejected", "erin", r, ""},
		{"model hint via team gateway", "carol", r, "claude-sonnet-4.5"},
		{"model hint via own Anthropic key", "bob", r, "claude-sonnet-4.5"},
		{"gateway BYOK (consent ON)", "frank", viaGateway, "claude-sonnet-4.5"},
		{"gateway BYOK, consent OFF", "grace", viaGateway, ""},
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tUSER\tPATH\tPROVIDER\tBASE URL HOST\tSOURCE\tMODEL\tERROR")
	for _, s := range rows {
		var callOpts []resolve.CallOption
		if s.model != "" {
			callOpts = append(callOpts, resolve.WithModel(s.model))
		}
		p, path, err := s.r.Resolve(ctx, s.user, callOpts...)
		if err != nil {
			code := "error"
			var re *resolve.Error
			if errors.As(err, &re) {
				code = re.Code()
			}
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t%s\n", s.name, s.user, code)
			continue
		}
		model := p.Model
		if model == "" {
			model = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\n", s.name, s.user, path, p.ID, p.BaseURLHost(), p.BaseURLSource, model)
	}
	return tw.Flush()
}
