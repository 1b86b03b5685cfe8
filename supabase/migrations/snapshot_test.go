package migrations_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

func snapshot(t testing.TB, db *pgtest.DB, user string, services []string) map[string]any {
	t.Helper()
	var raw []byte
	require.NoError(t, query(db, &raw, `select public.get_user_byok_snapshot($1, $2)`, user, services))
	var got map[string]any
	require.NoError(t, json.Unmarshal(raw, &got))
	return got
}

// snapshotOrders are the p_services arguments every combination is asked with.
var snapshotOrders = []struct {
	name     string
	services []string
}{
	{"resolver order", []string{"gateway", "openai", "openrouter", "anthropic", "xai"}},
	{"reversed", []string{"xai", "anthropic", "openrouter", "openai", "gateway"}},
	{"rotated", []string{"anthropic", "xai", "gateway", "openai", "openrouter"}},
	{"subset", []string{"xai", "openai"}},
	{"unnormalized", []string{" XAI ", "Gateway", "OPENROUTER"}},
	{"duplicates", []string{"openrouter", "openrouter", "anthropic"}},
	{"empty", []string{}},
	{"null", nil},
}

func TestSnapshot_everyCombination(t *testing.T) {
	db := pgtest.New(t)
	const url = "https://gw.example.com/v1"
	for mask := range 1 << len(allServices) {
		var stored []string
		for i, s := range allServices {
			if mask&(1<<i) != 0 {
				stored = append(stored, s)
			}
		}
		for _, withURL := range []bool{false, true} {
			for _, setConsent := range []*bool{nil, ptr(true), ptr(false)} {
				name := fmt.Sprintf("keys=%s/url=%t/consent=%s", strings.Join(stored, "+"), withURL, fmtBool(setConsent))
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					user := db.CreateUser(t)
					svc(t, db, func(tx pgx.Tx) error {
						ctx := context.Background()
						for _, s := range stored {
							if _, err := tx.Exec(ctx, `select public.insert_user_api_key($1, $2, $3)`, user, s, "key-"+s+"-"+user); err != nil {
								return err
							}
						}
						if withURL {
							if _, err := tx.Exec(ctx, `select public.upsert_user_gateway_config($1, $2)`, user, url); err != nil {
								return err
							}
						}
						if setConsent != nil {
							if _, err := tx.Exec(ctx, `select public.set_user_allow_gateway_fallback($1, $2)`, user, *setConsent); err != nil {
								return err
							}
						}
						return nil
					})

					want := map[string]any{"service": nil, "api_key": nil, "gateway_base_url": nil, "allow_gateway_fallback": true}
					if withURL {
						want["gateway_base_url"] = url
					}
					if setConsent != nil {
						want["allow_gateway_fallback"] = *setConsent
					}
					for _, order := range snapshotOrders {
						want["service"], want["api_key"] = nil, nil
						for _, s := range order.services {
							if s = strings.ToLower(strings.TrimSpace(s)); slices.Contains(stored, s) {
								want["service"], want["api_key"] = s, "key-"+s+"-"+user
								break
							}
						}
						assert.Equal(t, want, snapshot(t, db, user, order.services), order.name)
					}
				})
			}
		}
	}
}

func TestSnapshot_touchesOnlyTheReturnedKey(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	putKey(t, db, user, "openai", "sk-touch")
	putKey(t, db, user, "xai", "xai-touch")

	got := snapshot(t, db, user, []string{"anthropic", "xai", "openai"})
	require.Equal(t, "xai", got["service"])

	list := listKeys(t, db, user)
	require.Equal(t, []string{"openai", "xai"}, services(list))
	assert.Nil(t, list[0].LastUsed, "openai was not returned")
	assert.NotNil(t, list[1].LastUsed, "xai was returned")
}

func TestSnapshot_writesLastUsedAtMostOnceAMinute(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	putKey(t, db, user, "anthropic", "sk-ant-minute")
	lastUsed := func() time.Time {
		t.Helper()
		var ts time.Time
		require.NoError(t, db.Pool.QueryRow(t.Context(),
			`select last_used from public.api_keys where user_id = $1 and service = 'anthropic'`, user).Scan(&ts))
		return ts
	}
	// The row's version (xmin) changes on every write, even one that stores the same value.
	xmin := func() string {
		t.Helper()
		var v string
		require.NoError(t, db.Pool.QueryRow(t.Context(),
			`select xmin::text from public.api_keys where user_id = $1 and service = 'anthropic'`, user).Scan(&v))
		return v
	}

	snapshot(t, db, user, []string{"anthropic"})
	first, version := lastUsed(), xmin()
	snapshot(t, db, user, []string{"anthropic"})
	assert.Equal(t, version, xmin(), "a second read within the minute writes nothing")
	assert.Equal(t, first, lastUsed())

	_, err := db.Pool.Exec(t.Context(), `update public.api_keys set last_used = now() - interval '61 seconds' where user_id = $1`, user)
	require.NoError(t, err)
	stale := lastUsed()
	got := snapshot(t, db, user, []string{"anthropic"})
	assert.Equal(t, "sk-ant-minute", got["api_key"])
	assert.True(t, lastUsed().After(stale), "a last_used older than a minute is refreshed")
}

func TestSnapshot_unknownUserGetsDefaults(t *testing.T) {
	db := pgtest.New(t)
	got := snapshot(t, db, "00000000-0000-4000-8000-000000000001", []string{"gateway", "openai"})
	assert.Equal(t, map[string]any{"service": nil, "api_key": nil, "gateway_base_url": nil, "allow_gateway_fallback": true}, got)
}

func fmtBool(b *bool) string {
	if b == nil {
		return "unset"
	}
	return fmt.Sprint(*b)
}
