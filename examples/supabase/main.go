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
//
// The checks themselves are in internal/runbook, which `byok doctor --scenarios` runs too,
// over a database URL instead of the project's HTTP API.
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

	"github.com/byok-go/byok/internal/runbook"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
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

// run walks the runbook's checks and prints one row per check.
func run(ctx context.Context, out io.Writer, c supabase.Caller, admin runbook.Users, team resolve.Team) error {
	rep, err := runbook.Run(ctx, runbook.Config{Caller: c, Users: admin, Team: team})
	if rep.PlaceholderTeamKey {
		fmt.Fprintln(out, "AI_GATEWAY_API_KEY is not set: check 3 uses a placeholder team key.")
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tPATH\tPROVIDER\tBASE URL HOST\tSOURCE\tRESULT")
	for _, res := range rep.Results {
		got := "PASS"
		if !res.Pass {
			got = "FAIL"
		}
		if res.Code != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s (%s)\n", res.Name, got, res.Code)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", res.Name, res.Path, res.Provider, res.BaseURLHost, res.BaseURLSource, got)
	}
	if len(rep.Results) > 0 {
		if ferr := tw.Flush(); ferr != nil && err == nil {
			err = ferr
		}
	}
	if err != nil {
		return err
	}
	if n := rep.Failed(); n > 0 {
		return fmt.Errorf("%d of %d checks failed", n, len(rep.Results))
	}
	return nil
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
