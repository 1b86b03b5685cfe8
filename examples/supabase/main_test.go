package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/postgrest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dbUsers makes throwaway users directly in the test database.
type dbUsers struct {
	db      *pgtest.DB
	created []string
	deleted int
}

func (u *dbUsers) CreateUser(ctx context.Context) (string, error) {
	var id string
	err := u.db.Pool.QueryRow(ctx, `insert into auth.users (id) values (gen_random_uuid()) returning id::text`).Scan(&id)
	u.created = append(u.created, id)
	return id, err
}

func (u *dbUsers) DeleteUser(ctx context.Context, id string) error {
	_, err := u.db.Pool.Exec(ctx, `delete from auth.users where id = $1`, id)
	u.deleted++
	return err
}

func TestRun_walksTheRunbookOverPostgREST(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.SecretKey)
	require.NoError(t, err)
	users := &dbUsers{db: db}
	team := resolve.Team{GatewayKey: providers.NewSecret("vck-team-example-test")}

	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, c, users, team))

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 5, out.String())
	want := [][]string{
		{"1.", "user", "gateway", "BYOK", "user-gateway", "gateway", "ai-gateway.vercel.sh", "user", "PASS"},
		{"2.", "provider", "BYOK", "user-provider", "openai", "api.openai.com", "default", "PASS"},
		{"3.", "team", "gateway", "fallback", "team-gateway", "gateway", "ai-gateway.vercel.sh", "default", "PASS"},
		{"4.", "consent", "enforcement", "-", "-", "-", "-", "PASS", "(fallback_disabled)"},
	}
	for i, w := range want {
		assert.Equal(t, w, strings.Fields(lines[i+1]))
	}
	for _, leak := range []string{"example-user", "example-removed", "vck-team"} {
		assert.NotContains(t, out.String(), leak)
	}

	// Every throwaway user is deleted, and their secrets with them.
	require.Len(t, users.created, 4)
	assert.Equal(t, 4, users.deleted)
	var left int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select count(*) from vault.secrets where name like any($1)`,
		[]string{"%" + users.created[0], "%" + users.created[1], "%" + users.created[2], "%" + users.created[3]}).Scan(&left))
	assert.Zero(t, left)
}

func TestRun_placeholderTeamKeyIsAnnounced(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.ServiceKey)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, c, &dbUsers{db: db}, resolve.Team{}))
	assert.Contains(t, out.String(), "AI_GATEWAY_API_KEY is not set")
	assert.Equal(t, 4, strings.Count(out.String(), "PASS"))
}

func TestRun_missingMigrationsSaySo(t *testing.T) {
	db := pgtest.Fresh(t, false)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.SecretKey)
	require.NoError(t, err)
	users := &dbUsers{db: db}
	err = run(t.Context(), &bytes.Buffer{}, c, users, resolve.Team{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "apply supabase/migrations")
	assert.Empty(t, users.created, "no user is made when the project is not ready")
}

func TestSettings(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	_, _, ok := settings(env(nil))
	assert.False(t, ok)
	_, _, ok = settings(env(map[string]string{"SUPABASE_URL": "https://x.supabase.co"}))
	assert.False(t, ok)
	url, key, ok := settings(env(map[string]string{"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "a.b.c"}))
	assert.True(t, ok)
	assert.Equal(t, "https://x.supabase.co", url)
	assert.Equal(t, "a.b.c", key)
	_, key, _ = settings(env(map[string]string{"SUPABASE_URL": "u", "SUPABASE_SERVICE_ROLE_KEY": "a.b.c", "SUPABASE_SECRET_KEY": " sb_secret_x "}))
	assert.Equal(t, "sb_secret_x", key, "the secret key wins")
}

func TestAuthAdmin(t *testing.T) {
	const id = "6f1c2b1e-8f3a-4c2d-9b7e-2a1d3c4b5e6f"
	for name, key := range map[string]string{"secret key": "sb_secret_abc", "legacy jwt": "eyJh.eyJy.sig"} {
		t.Run(name, func(t *testing.T) {
			var seen []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = append(seen, r.Method+" "+r.URL.Path)
				assert.Equal(t, key, r.Header.Get("apikey"))
				if strings.Count(key, ".") == 2 {
					assert.Equal(t, "Bearer "+key, r.Header.Get("Authorization"))
				} else {
					assert.Empty(t, r.Header.Get("Authorization"), "a secret key goes in apikey only")
				}
				if r.Method == http.MethodPost {
					var body map[string]any
					assert.NoError(t, json.NewDecoder(r.Body).Decode(&body))
					assert.Equal(t, true, body["email_confirm"])
					_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
				}
			}))
			defer srv.Close()
			a := &authAdmin{url: srv.URL, key: key, http: srv.Client()}
			got, err := a.CreateUser(t.Context())
			require.NoError(t, err)
			assert.Equal(t, id, got)
			require.NoError(t, a.DeleteUser(t.Context(), got))
			assert.Equal(t, []string{"POST /auth/v1/admin/users", "DELETE /auth/v1/admin/users/" + id}, seen)
		})
	}
	t.Run("errors", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"msg":"sb_secret_abc is not allowed"}`, http.StatusForbidden)
		}))
		defer srv.Close()
		a := &authAdmin{url: srv.URL, key: "sb_secret_abc", http: srv.Client()}
		_, err := a.CreateUser(t.Context())
		require.Error(t, err)
		assert.Equal(t, "auth admin POST: status 403", err.Error())
	})
}
