// Command supabase walks the operator runbook's verification checklist against a live
// Supabase project, through the same stores a service uses: it makes four throwaway
// users, stores keys and settings for them, resolves each one and prints the path,
// provider, base-URL host and source it got. The users (and with them their keys and
// Vault secrets) are deleted before it exits.
//
//	SUPABASE_URL=https://<ref>.supabase.co SUPABASE_SECRET_KEY=sb_secret_... go run ./examples/supabase
//
// SUPABASE_SERVICE_ROLE_KEY (the legacy service_role JWT) works in place of
// SUPABASE_SECRET_KEY. The project needs the migrations of supabase/migrations applied.
// AI_GATEWAY_API_KEY and the other team variables are read as resolve.TeamFromEnv reads
// them; without a team gateway key, check 3 uses a placeholder, which is fine because
// resolving never calls a provider. Without the Supabase variables it says what to set
// and exits with status 2; a failed check exits with status 1.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/vault"
)

const usage = `examples/supabase walks the runbook's checks against a live Supabase project.
Set:
  SUPABASE_URL          the project URL, https://<ref>.supabase.co
  SUPABASE_SECRET_KEY   a secret key (sb_secret_...), or
  SUPABASE_SERVICE_ROLE_KEY  the legacy service_role key
and apply the migrations in supabase/migrations to the project first.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	url, key, ok := settings(os.Getenv)
	if !ok {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	client, err := supabase.New(url, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "supabase:", err)
		os.Exit(2)
	}
	admin := &authAdmin{url: strings.TrimRight(url, "/"), key: key, http: &http.Client{Timeout: 30 * time.Second}}
	if err := run(ctx, os.Stdout, client, admin, resolve.TeamFromEnv()); err != nil {
		fmt.Fprintln(os.Stderr, "supabase:", err)
		os.Exit(1)
	}
}

// settings reads the project URL and the service key from the environment.
func settings(getenv func(string) string) (url, key string, ok bool) {
	url = strings.TrimSpace(getenv("SUPABASE_URL"))
	key = strings.TrimSpace(getenv("SUPABASE_SECRET_KEY"))
	if key == "" {
		key = strings.TrimSpace(getenv("SUPABASE_SERVICE_ROLE_KEY"))
	}
	return url, key, url != "" && key != ""
}

// users makes and deletes throwaway users (rows of auth.users).
type users interface {
	CreateUser(ctx context.Context) (string, error)
	DeleteUser(ctx context.Context, id string) error
}

// check is one step of the runbook's checklist.
type check struct {
	name    string
	set     func(ctx context.Context, user string) error
	path    resolve.Path // expected path, "" when an error is expected
	id      providers.ID
	errCode string // expected resolve.Error code when path is ""
}

func run(ctx context.Context, out io.Writer, c supabase.Caller, admin users, team resolve.Team) (err error) {
	keys, settings := vault.New(c), consent.New(c)
	if err := keys.Health(ctx); err != nil {
		if supabase.IsNotFound(err) {
			return fmt.Errorf("the project lacks this module's functions: apply supabase/migrations (%w)", err)
		}
		return fmt.Errorf("vault health: %w", err)
	}
	if team.GatewayKey.IsZero() {
		team.GatewayKey = providers.NewSecret("placeholder-team-gateway-key")
		fmt.Fprintln(out, "AI_GATEWAY_API_KEY is not set: check 3 uses a placeholder team key.")
	}
	r := resolve.New(keys, settings, team)

	put := func(id providers.ID, key string) func(context.Context, string) error {
		return func(ctx context.Context, user string) error {
			return keys.PutKey(ctx, user, id, providers.NewSecret(key))
		}
	}
	checks := []check{
		{"1. user gateway BYOK", func(ctx context.Context, user string) error {
			if err := put(providers.Gateway, "example-user-gateway-key")(ctx, user); err != nil {
				return err
			}
			return keys.PutGatewayBaseURL(ctx, user, "https://ai-gateway.vercel.sh/v1")
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

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tPATH\tPROVIDER\tBASE URL HOST\tSOURCE\tRESULT")
	failed := 0
	for _, ch := range checks {
		user, err := admin.CreateUser(ctx)
		if err != nil {
			return fmt.Errorf("create a throwaway user: %w", err)
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if derr := admin.DeleteUser(dctx, user); derr != nil && err == nil {
				err = fmt.Errorf("delete throwaway user: %w", derr)
			}
		}()
		if err := ch.set(ctx, user); err != nil {
			return fmt.Errorf("%s: set up: %w", ch.name, err)
		}
		p, path, rerr := r.Resolve(ctx, user)
		got := "PASS"
		if !passed(ch, p, path, rerr) {
			got, failed = "FAIL", failed+1
		}
		if rerr != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s (%s)\n", ch.name, got, code(rerr))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ch.name, path, p.ID, p.BaseURLHost(), p.BaseURLSource, got)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(checks))
	}
	return nil
}

func passed(ch check, p resolve.Provider, path resolve.Path, err error) bool {
	if ch.path == "" {
		return err != nil && code(err) == ch.errCode
	}
	return err == nil && path == ch.path && p.ID == ch.id
}

// code is the resolve.Error code of err ("no_provider", "fallback_disabled", ...).
func code(err error) string {
	var re *resolve.Error
	if errors.As(err, &re) {
		return re.Code()
	}
	return "error"
}

// authAdmin makes and deletes users with Supabase Auth's admin API, authenticated the
// way supabase.Client is: the key in apikey, and as a Bearer token too when it is a
// legacy JWT.
type authAdmin struct {
	url, key string
	http     *http.Client
}

func (a *authAdmin) CreateUser(ctx context.Context) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	var user struct {
		ID string `json:"id"`
	}
	err := a.do(ctx, http.MethodPost, "/auth/v1/admin/users", map[string]any{
		"email":         "byok-example-" + hex.EncodeToString(b[:]) + "@example.com",
		"email_confirm": true,
	}, &user)
	if err == nil && !supabase.ValidUserID(user.ID) {
		err = errors.New("the answer has no user id")
	}
	return user.ID, err
}

func (a *authAdmin) DeleteUser(ctx context.Context, id string) error {
	return a.do(ctx, http.MethodDelete, "/auth/v1/admin/users/"+id, nil, nil)
}

func (a *authAdmin) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("apikey", a.key)
	if strings.Count(a.key, ".") == 2 {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("auth admin %s: transport error", method)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("auth admin %s: read answer", method)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("auth admin %s: status %d", method, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("auth admin %s: malformed answer", method)
	}
	return nil
}
