// Package runbook walks the operator runbook's verification checklist against a Supabase
// project, through the stores a service uses: for each of its four checks it makes a
// throwaway user, stores keys and settings for them, resolves them and compares the path
// and provider with what the runbook expects. Every user it made is deleted before [Run]
// returns, with their keys and Vault secrets, whether the checks passed, failed or were
// cancelled. examples/supabase and `byok doctor --scenarios` both run it.
package runbook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/vault"
)

// Users makes and deletes throwaway users (rows of auth.users). Implementations are safe
// for concurrent use.
type Users interface {
	CreateUser(ctx context.Context) (string, error)
	DeleteUser(ctx context.Context, id string) error
}

// Config is what [Run] needs.
type Config struct {
	Caller supabase.Caller // reaches the project's RPCs as the service role
	Users  Users
	// Team is the server's team configuration, as resolve.TeamFromEnv reads it. Without a
	// team gateway key check 3 uses a placeholder (resolving never calls a provider), and
	// the Report says so.
	Team resolve.Team
	// AllowedGatewayHosts are the gateway hosts allowed besides ai-gateway.vercel.sh, as
	// the service allows them (AI_GATEWAY_ALLOWED_HOSTS).
	AllowedGatewayHosts []string
	// AfterSetup, when set, runs after each check's set-up and before it resolves; an error
	// stops the run. Tests use it to interrupt a run that holds a throwaway user.
	AfterSetup func(ctx context.Context, check string) error
}

// Result is one check's outcome.
type Result struct {
	Name          string       // "1. user gateway BYOK", ...
	Want          string       // what the runbook expects: "user-gateway/gateway", or "error fallback_disabled"
	Path          resolve.Path // "" when resolution failed
	Provider      providers.ID
	BaseURLHost   string
	BaseURLSource string
	Code          string // the resolve.Error code when resolution failed ("fallback_disabled", ...)
	Pass          bool
}

// Got describes what resolution gave, in Want's terms.
func (r Result) Got() string {
	if r.Code != "" {
		return "error " + r.Code
	}
	return string(r.Path) + "/" + string(r.Provider)
}

// Report is the outcome of [Run].
type Report struct {
	Results            []Result // one per check run, in the runbook's order
	PlaceholderTeamKey bool     // Team had no gateway key; check 3 used a placeholder
	UsersCreated       int      // throwaway users made
	UsersLeft          []string // ids of throwaway users that could not be deleted (Run's error says why)
}

// Failed returns how many checks did not pass.
func (r Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if !res.Pass {
			n++
		}
	}
	return n
}

// ErrNotReady is matched by Run's error when the project lacks this module's functions:
// the migrations are not applied. No user is made then.
var ErrNotReady = errors.New("runbook: the project lacks the byok functions: apply supabase/migrations")

// cleanupTimeout bounds the deletion of each throwaway user, which runs even after ctx is
// cancelled.
const cleanupTimeout = 30 * time.Second

// check is one step of the runbook's checklist.
type check struct {
	name    string
	set     func(ctx context.Context, user string) error
	path    resolve.Path // expected path, "" when an error is expected
	id      providers.ID
	errCode string // expected resolve.Error code when path is ""
}

func (c check) want() string {
	if c.path == "" {
		return "error " + c.errCode
	}
	return string(c.path) + "/" + string(c.id)
}

// Run walks the four checks in order, one throwaway user each, and returns what each
// gave. A check whose resolution differs from the runbook's is a Result with Pass false,
// not an error; Run's error is for what stops the walk: the Vault health probe failing
// (matching [ErrNotReady] when the functions are missing), a set-up step failing, ctx
// ending, or a throwaway user that could not be deleted. Each user is deleted as soon as
// its check is done, and on every way out, with a context that outlives ctx's
// cancellation by up to 30 s; the Report holds the results of the checks that ran.
func Run(ctx context.Context, cfg Config) (rep Report, err error) {
	keys := vault.New(cfg.Caller, vault.WithAllowedGatewayHosts(cfg.AllowedGatewayHosts...))
	settings := consent.New(cfg.Caller)
	if err := keys.Health(ctx); err != nil {
		if supabase.IsNotFound(err) {
			return rep, fmt.Errorf("%w (%w)", ErrNotReady, err)
		}
		return rep, fmt.Errorf("runbook: vault health: %w", err)
	}
	team := cfg.Team
	if team.GatewayKey.IsZero() {
		team.GatewayKey = providers.NewSecret("placeholder-team-gateway-key")
		rep.PlaceholderTeamKey = true
	}
	r := resolve.New(keys, settings, team, resolve.WithAllowedGatewayHosts(cfg.AllowedGatewayHosts...))

	put := func(id providers.ID, key string) func(context.Context, string) error {
		return func(ctx context.Context, user string) error {
			return keys.PutKey(ctx, user, id, providers.NewSecret(key))
		}
	}
	checks := []check{
		{"1. user gateway BYOK", func(ctx context.Context, user string) error {
			// POST /api/keys with service "gateway" and a baseUrl: key and URL in one call.
			return keys.PutGatewayKey(ctx, user, providers.NewSecret("example-user-gateway-key"), "https://ai-gateway.vercel.sh/v1")
		}, resolve.UserGateway, providers.Gateway, ""},
		{"2. provider BYOK", put(providers.OpenAI, "example-user-openai-key"), resolve.UserProvider, providers.OpenAI, ""},
		{"3. team gateway fallback", func(ctx context.Context, user string) error {
			// Keys stored and removed again, consent OFF then ON, as the runbook says.
			for _, step := range []func() error{
				func() error { return put(providers.Gateway, "example-removed-key")(ctx, user) },
				func() error { return put(providers.XAI, "example-removed-key")(ctx, user) },
				func() error { return keys.DeleteKey(ctx, user, providers.Gateway) },
				func() error { return keys.DeleteKey(ctx, user, providers.XAI) },
				func() error { return settings.SetAllowGatewayFallback(ctx, user, false) },
				func() error { return settings.SetAllowGatewayFallback(ctx, user, true) },
			} {
				if err := step(); err != nil {
					return err
				}
			}
			return nil
		}, resolve.TeamGateway, providers.Gateway, ""},
		{"4. consent enforcement", func(ctx context.Context, user string) error {
			return settings.SetAllowGatewayFallback(ctx, user, false)
		}, "", "", "fallback_disabled"},
	}

	for _, ch := range checks {
		res, err := runCheck(ctx, cfg, r, ch, &rep)
		if err != nil {
			return rep, err
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// runCheck runs one check with a throwaway user of its own, deleted before it returns.
func runCheck(ctx context.Context, cfg Config, r *resolve.Resolver, ch check, rep *Report) (res Result, err error) {
	user, err := cfg.Users.CreateUser(ctx)
	if err != nil {
		return res, fmt.Errorf("runbook: %s: create a throwaway user: %w", ch.name, err)
	}
	rep.UsersCreated++
	defer func() {
		// The deletion must happen even when ctx was cancelled (an interrupt): it gets a
		// context of its own that keeps ctx's values but not its cancellation.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if derr := cfg.Users.DeleteUser(dctx, user); derr != nil {
			rep.UsersLeft = append(rep.UsersLeft, user)
			err = errors.Join(err, fmt.Errorf("runbook: delete throwaway user %s: %w", user, derr))
		}
	}()
	if err := ch.set(ctx, user); err != nil {
		return res, fmt.Errorf("runbook: %s: set up: %w", ch.name, err)
	}
	if cfg.AfterSetup != nil {
		if err := cfg.AfterSetup(ctx, ch.name); err != nil {
			return res, fmt.Errorf("runbook: %s: %w", ch.name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("runbook: %s: %w", ch.name, err)
	}
	p, path, rerr := r.Resolve(ctx, user)
	res = Result{Name: ch.name, Want: ch.want()}
	if rerr != nil {
		if cerr := ctx.Err(); cerr != nil {
			return res, fmt.Errorf("runbook: %s: %w", ch.name, cerr)
		}
		res.Code = code(rerr)
		res.Pass = ch.path == "" && res.Code == ch.errCode
		return res, nil
	}
	res.Path, res.Provider = path, p.ID
	res.BaseURLHost, res.BaseURLSource = p.BaseURLHost(), p.BaseURLSource
	res.Pass = ch.path != "" && path == ch.path && p.ID == ch.id
	return res, nil
}

// code is the resolve.Error code of err ("no_provider", "fallback_disabled", ...), or
// "error".
func code(err error) string {
	var re *resolve.Error
	if errors.As(err, &re) {
		return re.Code()
	}
	return "error"
}
