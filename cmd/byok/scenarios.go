package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/byok-go/byok/internal/runbook"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase/pgcall"
)

// checkScenarios walks the runbook's four checks (package runbook) over this connection,
// as service_role, with throwaway users in auth.users that are deleted afterwards.
func (d *doctor) checkScenarios(ctx context.Context, r *result) {
	if !d.scenarios {
		r.skip("writes to the database (throwaway users, deleted afterwards): run byok doctor --scenarios")
		return
	}
	if !d.canBeServiceRole {
		r.fail("this role may not SET ROLE service_role, so the scenarios cannot run as the service does",
			"connect as postgres, which is a member of service_role on Supabase")
		return
	}
	var allowed []string
	for h := range strings.SplitSeq(d.getenv(envAllowedHosts), ",") {
		if h = strings.TrimSpace(h); h != "" {
			allowed = append(allowed, h)
		}
	}
	cfg := runbook.Config{
		Caller:              pgcall.New(d.pool),
		Users:               &dbUsers{pool: d.pool},
		Team:                resolve.TeamFromLookup(d.getenv),
		AllowedGatewayHosts: allowed,
	}
	if afterScenarioSetup != nil {
		cfg.AfterSetup = func(ctx context.Context, check string) error { return afterScenarioSetup(ctx, d.stderr, check) }
	}
	rep, err := runbook.Run(ctx, cfg)
	for _, res := range rep.Results {
		if res.Pass {
			r.pass("%s: %s", res.Name, res.Got())
		} else {
			r.fail(fmt.Sprintf("%s: got %s, the runbook expects %s", res.Name, res.Got(), res.Want), scenarioFix(res))
		}
	}
	if rep.PlaceholderTeamKey {
		r.note("AI_GATEWAY_API_KEY is not set: check 3 used a placeholder team key")
	}
	users := fmt.Sprintf("%d throwaway users made and deleted", rep.UsersCreated)
	if len(rep.UsersLeft) > 0 {
		users = fmt.Sprintf("%d throwaway users made; NOT deleted: %s", rep.UsersCreated, strings.Join(rep.UsersLeft, ", "))
		r.fail("throwaway users left behind: "+strings.Join(rep.UsersLeft, ", "),
			"delete from auth.users where id in ('"+strings.Join(rep.UsersLeft, "', '")+"');")
	}
	switch {
	case err != nil:
		// The runbook's error texts name the step; they never hold a key (supabase.Error
		// prints no argument).
		what := d.red.scrub(err.Error())
		fix := "fix what the rpc-acl and vault rows report, then run byok doctor --scenarios again"
		switch {
		case errors.Is(err, runbook.ErrNotReady):
			fix = migrateFix
		case errors.Is(err, context.Canceled):
			what, fix = "interrupted", "run byok doctor --scenarios again"
		case errors.Is(err, context.DeadlineExceeded):
			what = "timed out"
		}
		r.fail(fmt.Sprintf("stopped: %s; %s", what, users), fix)
	case r.status.rank() <= statusPass.rank():
		r.detail = append([]string{fmt.Sprintf("the runbook's %d checks pass; %s", len(rep.Results), users)}, r.detail...)
	}
}

// scenarioFix points at what to look at when a scenario resolves otherwise.
func scenarioFix(res runbook.Result) string {
	switch {
	case res.Code == "fallback_disabled" || res.Code == "no_provider":
		return "check get_user_byok_snapshot and user_settings (byok doctor's rls and rpc-acl rows), and AI_GATEWAY_API_KEY"
	case res.Code != "":
		return "see the rpc-acl and vault rows: the stores could not read what the scenario stored"
	}
	return "check AI_GATEWAY_URL and AI_GATEWAY_ALLOWED_HOSTS (env row)"
}

// dbUsers makes throwaway users directly in auth.users; deleting one cascades to its keys,
// settings and, through the migrations' trigger, its Vault secrets.
type dbUsers struct{ pool *pgxpool.Pool }

func (u *dbUsers) CreateUser(ctx context.Context) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	var id string
	err := u.pool.QueryRow(ctx, `insert into auth.users (id, email) values (gen_random_uuid(), $1) returning id::text`,
		"byok-doctor-"+hex.EncodeToString(b[:])+"@example.invalid").Scan(&id)
	return id, err
}

func (u *dbUsers) DeleteUser(ctx context.Context, id string) error {
	_, err := u.pool.Exec(ctx, `delete from auth.users where id = $1`, id)
	return err
}
