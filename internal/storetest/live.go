package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/byok-go/byok/supabase"
)

// LiveFromEnv returns a Backend for the live Supabase project named by SUPABASE_URL and
// SUPABASE_SECRET_KEY (or SUPABASE_SERVICE_ROLE_KEY), or skips t when they are not set.
// The project must have the migrations applied. Its throwaway users are made with the
// Auth admin API and deleted when the test ends, which deletes their keys and Vault
// secrets with them.
func LiveFromEnv(t *testing.T) Backend {
	t.Helper()
	url := strings.TrimRight(os.Getenv("SUPABASE_URL"), "/")
	key := os.Getenv("SUPABASE_SECRET_KEY")
	if key == "" {
		key = os.Getenv("SUPABASE_SERVICE_ROLE_KEY")
	}
	if url == "" || key == "" {
		t.Skip("live contract test: set SUPABASE_URL and SUPABASE_SECRET_KEY (or SUPABASE_SERVICE_ROLE_KEY) of a project with the migrations applied")
	}
	c, err := supabase.New(url, key)
	if err != nil {
		t.Fatalf("live contract test: %v", err)
	}
	admin := &authAdmin{url: url, key: key, http: &http.Client{Timeout: 30 * time.Second}}
	return Backend{
		Name:   "live",
		Caller: c,
		NewUser: func(t *testing.T) string {
			t.Helper()
			id, err := admin.createUser(t.Context())
			if err != nil {
				t.Fatalf("live contract test: create user: %v", err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := admin.deleteUser(ctx, id); err != nil {
					t.Errorf("live contract test: delete user: %v", err)
				}
			})
			return id
		},
	}
}

// authAdmin makes and deletes users with Supabase Auth's admin API.
type authAdmin struct {
	url, key string
	http     *http.Client
}

func (a *authAdmin) do(ctx context.Context, method, path string, body any, out any) error {
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
	if strings.Count(a.key, ".") == 2 { // a legacy JWT key also goes as Bearer
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: transport error", method, path)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (a *authAdmin) createUser(ctx context.Context) (string, error) {
	var id [8]byte
	_, _ = rand.Read(id[:])
	var user struct {
		ID string `json:"id"`
	}
	err := a.do(ctx, http.MethodPost, "/auth/v1/admin/users", map[string]any{
		"email":         "byok-contract-" + hex.EncodeToString(id[:]) + "@example.com",
		"email_confirm": true,
	}, &user)
	if err == nil && !supabase.ValidUserID(user.ID) {
		err = fmt.Errorf("create user: no id in the answer")
	}
	return user.ID, err
}

func (a *authAdmin) deleteUser(ctx context.Context, id string) error {
	return a.do(ctx, http.MethodDelete, "/auth/v1/admin/users/"+id, nil, nil)
}
